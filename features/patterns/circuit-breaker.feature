@patterns @integration @failure-recovery
Feature: Circuit breaker and self-healing
  @PAT-002 @p1 @chaos
  Scenario: Consecutive failures open the queen's circuit to a hive; after the cooldown one trial is let through, a failed trial opens it again, a success closes it
    Given a stack with 1 hive of 1 worker
    And the queen's circuit breaker opens after 3 failures and cools down for 2 seconds
    When the service "hive-a" is paused
    And the queen fails to reach "hive-a" 3 times
    Then the queen reports the circuit to "hive-a" as "open" with its metric at 1
    And a new job fails fast with 503 "HIVE_UNAVAILABLE"
    And within 5 seconds the queen's registry shows the circuit to "hive-a" as "half_open"
    When the queen fails to reach "hive-a" 1 time
    Then the queen reports the circuit to "hive-a" as "open" with its metric at 1
    And a new job fails fast with 503 "HIVE_UNAVAILABLE"
    When the service "hive-a" is resumed
    Then within 10 seconds the queen reports the circuit to "hive-a" as "closed" with its metric at 0
    And within 10 seconds a new job for the default model completes

  @PAT-003 @p1 @chaos @crash
  Scenario: A hive restarts a crashing worker up to its limit, then gives up
    Given a stack with 1 hive of 1 worker
    And the hive "hive-a" restarts crashed workers at most 2 times
    When the first worker of "hive-a" is killed with SIGKILL
    Then within 10 seconds that worker is "idle" again with a restart count of 1
    When that worker is killed again
    Then within 10 seconds that worker is "idle" again with a restart count of 2
    When that worker is killed again
    Then within 5 seconds the hive no longer lists that worker
    And the hive's "rbee_hive_worker_restarts_total" counter is 2
    And the hive's "rbee_hive_worker_crashes_total" counter is 3
