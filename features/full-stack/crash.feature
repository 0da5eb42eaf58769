@full-stack
Feature: A worker that crashes in the middle of a job
  The client is told (never a silently cut stream), the hive notices the crash at once and drops the
  worker, and the queen never routes to it again.

  @FULL-005 @p0 @crash @chaos
  Scenario: A worker killed mid-stream ends the job with a retryable error and is dropped everywhere
    Given a stack with 1 hive of 1 worker
    And workers generate one token every 40 ms
    When a client submits a job for the default model with max_tokens 200
    And the job has streamed 10 tokens
    And the worker running the job is killed with SIGKILL
    Then the client's stream ends with a retryable error event, then "[DONE]"
    And within 5 seconds the hive logs "worker.crashed" for that worker with signal "SIGKILL"
    And within 5 seconds the hive no longer lists that worker
    And within 5 seconds the queen no longer lists that worker
    And within 5 seconds no view lists that worker any more
    When a client submits a job for the default model with max_tokens 3
    Then the stream is well-formed with exactly 3 tokens in order, then "end", then "[DONE]"
    And the new job did not run on the crashed worker
    And no accepted job of this scenario was lost or duplicated
