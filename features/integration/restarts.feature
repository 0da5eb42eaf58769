@integration @failure-recovery
Feature: Services restart and the stack recovers
  @INT-003 @p1 @chaos @crash
  Scenario: A worker killed mid-job is restarted by its hive and serves again
    Given a stack with 1 hive of 1 worker
    And the hive "hive-a" restarts crashed workers
    And workers generate one token every 40 ms
    When a client submits a job for the default model with max_tokens 100
    And the job has streamed 50 tokens
    And the worker running the job is killed with SIGKILL
    Then the client's stream ends with a retryable error event, then "[DONE]"
    And within 10 seconds that worker is "idle" again with a restart count of 1
    And the hive's "rbee_hive_worker_restarts_total" counter is 1
    And within 10 seconds every view shows that worker as "idle"
    When a client submits a job for the default model with max_tokens 5
    Then the stream is well-formed with exactly 5 tokens in order, then "end", then "[DONE]"
    And the queen's narration names that worker
    And no accepted job of this scenario was lost or duplicated

  @INT-012 @p1 @chaos
  Scenario: The queen restarts while workers are up and rebuilds its view from the hives
    Given a stack with 2 hives of 1 worker
    And a snapshot of the queen's worker list
    When the service "queen" is restarted
    Then within 5 seconds the queen's worker list is the same as before
    And within 5 seconds every view shows the hive "hive-a" as "available"
    And within 5 seconds every view shows the hive "hive-b" as "available"
    When a client submits a job for the default model with max_tokens 4
    Then the stream is well-formed with exactly 4 tokens in order, then "end", then "[DONE]"
    And no accepted job of this scenario was lost or duplicated

  @INT-013 @p1 @chaos @requires-workers-outliving-hive
  Scenario: The hive restarts while its workers are up: it keeps the live ones and drops the dead
    Given a stack with 1 hive of 2 workers
    And a snapshot of the hive "hive-a" worker ids
    When the hive "hive-a" is killed with SIGKILL
    And the first of those workers is killed while the hive is down
    And the hive "hive-a" is started again
    Then within 10 seconds the hive "hive-a" lists only the surviving worker, "idle"
    And for 2 worker heartbeat timeouts the hive "hive-a" keeps listing the surviving worker as "idle"
    And within 10 seconds the queen's system health is "ok" with hive "hive-a" available and 1 healthy workers
    When a client submits a job for the default model with max_tokens 4
    Then the stream is well-formed with exactly 4 tokens in order, then "end", then "[DONE]"
    And the queen's narration names the surviving worker
