@patterns @full-stack
Feature: Jobs as workflows with parameter sets
  @PAT-004 @p1
  Scenario Outline: A job configuration runs as expected: <expected>
    Given a stack with 1 hive of 1 worker
    When a client submits a job for "<model>" with max_tokens <max_tokens>, temperature <temperature> and stop "<stop>"
    Then the job <expected>

    Examples:
      | model                                     | max_tokens | temperature | stop | expected                                   |
      | hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF | 1          | 0           |      | streams exactly 1 token and ends with MAX_TOKENS |
      | hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF | 16         | 2           |      | streams exactly 16 tokens and ends with MAX_TOKENS |
      | tinyllama                                 | 4          | 1           |      | streams exactly 4 tokens and ends with MAX_TOKENS |
      | hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF | 2048       | 1           | e    | ends early with STOP_SEQUENCE after the stop text |
      | hf:no-such/model-GGUF                     | 4          | 1           |      | is refused with 404 "MODEL_NOT_FOUND"      |
      | hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF | 2049       | 1           |      | is refused with 400 "VALIDATION_FAILED"    |

  @PAT-005 @p1 @errors
  Scenario: A deadline already past is refused; one that passes mid-stream ends the stream with DEADLINE_EXCEEDED
    Given a stack with 1 hive of 1 worker
    And workers generate one token every 40 ms
    When a client submits a job whose deadline passed a second ago, with correlation id "pat-005-past"
    Then the answer is 504 "DEADLINE_EXCEEDED"
    And the error carries correlation id "pat-005-past"
    # 2 s: the deadline must pass mid-stream (200 tokens at 40 ms take 8 s), not before a loaded machine admits the job.
    When a client submits a job for 200 tokens with a deadline 2 seconds from now
    Then the stream ends with an error event "DEADLINE_EXCEEDED" and "[DONE]" after less than 200 tokens
    And the worker that ran the job is "idle" again in its hive's list

  @PAT-006 @p2 @concurrency
  Scenario: Concurrent workflows with different configurations all complete
    Given a stack with 1 hive of 2 workers
    When 4 clients submit jobs for the default model with max_tokens 8 at once
    And 4 clients submit jobs for "hf:TheBloke/phi-2-GGUF" with max_tokens 8 at once
    Then every job's stream is well-formed with exactly 8 tokens
    And no client had to retry its submission
