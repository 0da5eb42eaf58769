@full-stack
Feature: An inference job flows through the whole stack
  A client sends a job to queen-rbee; the queen picks a hive, the hive hands it an idle worker, and the
  worker's tokens come back to the client as an event stream, relayed by the queen as they are made.

  @FULL-001 @p0 @smoke
  Scenario: A client's job runs on a worker and streams its tokens back in order
    Given a stack with 1 hive of 1 worker
    When a client submits a job for the default model with max_tokens 12 and correlation id "full-001-job"
    Then the queen accepts the job with an event stream
    And the queen's narration names the hive and the worker that ran the job
    And the stream is well-formed with exactly 12 tokens in order, then "end", then "[DONE]"
    And the response carries correlation id "full-001-job"
    And the job took less than 10 seconds
    And the worker that ran the job is "idle" again in its hive's list
