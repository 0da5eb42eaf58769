@integration @worker-churn
Feature: Workers come and go
  @INT-002 @p1
  Scenario: Spawn five, stop three, spawn two: the hive lists exactly the four alive
    Given a stack with 1 hive of 0 workers
    When the hive "hive-a" spawns 5 workers at once
    And 3 of those workers are stopped through the hive
    And the hive "hive-a" spawns 2 more workers
    Then the hive "hive-a" lists exactly the 4 workers that are alive, each with its own id and port
    And no process is left for the stopped workers
    And the hive's "rbee_hive_workers" gauge says 4 "idle" and nothing else

  # @serial: ten node processes start at once; beside other stacks on two cores they would miss the loading timeout.
  @INT-010 @p1 @registration @serial
  Scenario: Ten workers register at once
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" may run at most 10 workers
    When the hive "hive-a" spawns 10 workers at once
    Then the hive "hive-a" lists exactly the 10 workers that are alive, each with its own id and port
    And each of them answers its health check through the URL the hive lists
