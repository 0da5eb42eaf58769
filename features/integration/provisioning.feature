@integration @provisioning
Feature: Model provisioning under contention and failure
  @INT-011 @p1 @concurrency
  Scenario: Three clients want the same new model at once: one download serves them all
    Given a stack with 1 hive of 0 workers
    And the model hub serves files at 2 MiB per second
    When 3 clients submit jobs for "hf:TheBloke/Mistral-7B-Instruct-v0.2-GGUF" with max_tokens 5 at once
    Then every job's stream is well-formed with exactly 5 tokens
    And no client had to retry its submission
    And the hub served the file of "hf:TheBloke/Mistral-7B-Instruct-v0.2-GGUF" exactly once

  @INT-006 @p1 @database-failure @chaos
  Scenario: A corrupted catalog database is moved aside; the hive runs degraded, still provisions and serves jobs
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" has downloaded 5 models
    When the hive "hive-a" is killed with SIGKILL
    And 4096 bytes at the start of the file "hive.db" of "hive-a" are overwritten with garbage
    And the hive "hive-a" is started again
    Then the hive "hive-a" logs "catalog.corrupt" with the SQLite error
    And the hive "hive-a" reports "degraded" with a reason naming the catalog
    And the hive "hive-a" can still provision "hf:TheBloke/Llama-2-13B-GGUF"
    And within 20 seconds a new job for the default model completes
