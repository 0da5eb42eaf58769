@full-stack
Feature: Bad input is rejected with a traceable error
  Invalid jobs are refused before anything changes, with the contract's error body: the code, every
  failing field, and the request's correlation id.

  Background:
    Given a stack with 1 hive of 1 worker
    And a snapshot of the hive "hive-a" workers and the worker job counters

  @FULL-009 @p0 @errors
  Scenario Outline: An out-of-range job is refused with 400 VALIDATION_FAILED listing every bad field
    When a client submits a job with <changes> and correlation id "<cid>"
    Then the answer is 400 "VALIDATION_FAILED" naming exactly the fields <fields>
    And the error carries correlation id "<cid>"
    And the hive "hive-a" workers and the worker job counters are unchanged
    And no hive or worker logged anything for correlation id "<cid>"

    Examples:
      | changes                                                     | fields                              | cid          |
      | max_tokens 0                                                | "max_tokens"                        | full-009-a   |
      | an empty prompt                                             | "prompt"                            | full-009-b   |
      | temperature 3                                               | "temperature"                       | full-009-c   |
      | 5 stop strings                                              | "stop"                              | full-009-d   |
      | max_tokens 0, an empty prompt, temperature 3, 5 stop strings | "max_tokens, prompt, temperature, stop" | full-009-e |

  @FULL-009 @p0 @errors
  Scenario: Malformed JSON and missing fields are refused with 400 and 422
    When a client sends the body "{\"model\": \"tinyllama\", \"prompt\": " to the queen's task route with correlation id "full-009-json"
    Then the answer is 400 "INVALID_JSON"
    And the error carries correlation id "full-009-json"
    When a client submits a job without "prompt" and correlation id "full-009-missing"
    Then the answer is 422 "INVALID_REQUEST" naming the field "prompt"
    And the error carries correlation id "full-009-missing"
    And the hive "hive-a" workers and the worker job counters are unchanged
    And no hive or worker logged anything for correlation id "full-009-json"
    And no hive or worker logged anything for correlation id "full-009-missing"

  @FULL-009 @p1 @errors
  Scenario: A worker validates its own input too
    When a client sends the worker an inference request with max_tokens 5000 and top_p 2 and correlation id "full-009-worker"
    Then the answer is 400 "VALIDATION_FAILED" naming exactly the fields "max_tokens, top_p"
    And the error carries correlation id "full-009-worker"
    And the hive "hive-a" workers and the worker job counters are unchanged
