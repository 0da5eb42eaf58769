@full-stack
Feature: A worker started outside the hive registers itself
  Workers need not be spawned by the hive: one started by hand calls the hive back, is registered, is
  reported to the queen with the hive's next heartbeat, and takes jobs like any other.

  @FULL-003 @p1 @registration
  Scenario: A standalone worker calls back, is listed by hive and queen, and runs a job
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" has the default model in its catalog
    Then the hive "hive-a" lists no workers
    When a worker "ext-worker-1" is started outside the hive with a callback to "hive-a"
    Then the hive "hive-a" lists worker "ext-worker-1" as "idle" and external
    And the queen lists worker "ext-worker-1" on "hive-a" after the hive's next heartbeat
    When a client submits a job for the default model with max_tokens 6
    Then the queen's narration names worker "ext-worker-1" on "hive-a"
    And the stream is well-formed with exactly 6 tokens in order, then "end", then "[DONE]"
    And worker "ext-worker-1" answers its health check
