@patterns @integration
Feature: Worker state machine and timeouts
  Worker states only move along the contract's arrows; timeouts are shortened through configuration,
  never waited out at their defaults.

  @PAT-007 @p1 @registration
  Scenario: A callback that skips a state is rejected
    Given a stack with 1 hive of 1 worker
    When a client submits a job for the default model with max_tokens 200
    And the job has streamed 1 tokens
    And the busy worker sends a second ready callback to its hive
    Then the answer is 409 "INVALID_STATE_TRANSITION"
    And the hive still lists that worker as "busy"

  @PAT-008 @p1 @worker-churn
  Scenario: A worker that never becomes ready is killed after the loading timeout
    Given a stack with 1 hive of 0 workers
    And workers take 60000 ms to load a model
    And the hive "hive-a" gives up on loading workers after 2 seconds
    When the hive "hive-a" is asked to spawn a worker for "hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"
    Then the hive "hive-a" lists that worker as "loading"
    And within 6 seconds the hive no longer lists that worker
    And the hive's log says that worker was killed for loading too long

  @PAT-009 @p1 @worker-churn
  Scenario: An idle worker is stopped after the idle timeout
    Given a stack with 1 hive of 1 worker
    And the hive "hive-a" stops workers idle for 3 seconds
    Then within 6 seconds the hive "hive-a" lists no workers
    And the hive's log says its worker was stopped for being idle
