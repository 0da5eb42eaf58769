@integration @oom @chaos @requires-docker
Feature: Workers that run out of memory
  @INT-008 @p1
  Scenario: A model too big for the hive's memory: the kernel kills the loading worker and the client is told why
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" has a memory limit of 256 MiB
    When a client submits a job for "hf:rbee/oversized-GGUF" with max_tokens 4
    Then within 30 seconds the engine confirms an out-of-memory kill in "hive-a"
    And the client gets an error whose message names an out-of-memory kill
    And the hive "hive-a" lists no workers

  @INT-009 @p1
  Scenario: A job whose context outgrows the worker's memory: the kernel kills the worker, not its hive, and the client may retry
    Given a stack with 1 hive of 1 worker
    And workers hold 1024 KiB of context per generated token
    And the hive "hive-a" has a memory limit of 256 MiB
    And the memory use of "hive-a" is noted
    When a client submits a job for the default model with max_tokens 2000
    Then within 30 seconds the engine confirms an out-of-memory kill in "hive-a"
    And the process killed was the worker running the job: its hive logs "worker.crashed" for it with signal "SIGKILL" and was not restarted
    And the client's stream ends with a retryable error event, then "[DONE]"
    And within 5 seconds the hive no longer lists that worker
    And within 5 seconds no view lists that worker any more
    And within 10 seconds the memory use of "hive-a" is back to at most what was noted
