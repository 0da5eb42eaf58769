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
