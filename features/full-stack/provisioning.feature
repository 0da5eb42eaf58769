@full-stack
Feature: A model is provisioned on first use
  When a job asks for a model the hive does not have, the hive downloads it from the model hub (one
  download, with a progress stream), checks it against the hub's checksum, records it in its catalog,
  spawns a worker with it, and the job runs.

  @FULL-007 @p0 @provisioning
  Scenario Outline: The first job for a model downloads it, records it and runs on a new worker (asked as <asked as>)
    Given a stack with 1 hive of 0 workers
    And the model hub serves files at 1 MiB per second
    And the hive "hive-a" does not have "hf:TheBloke/phi-2-GGUF" in its catalog
    When a client submits a job for "<asked as>" with max_tokens 5
    Then the hive "hive-a" downloads the model's file from the hub
    And the download's progress stream goes "started", "downloading" with a strictly increasing fraction, then "complete"
    And the hub served the model's file exactly once
    And the hive "hive-a" lists "hf:TheBloke/phi-2-GGUF" in its catalog with the hub's sha256
    And the stream is well-formed with exactly 5 tokens in order, then "end", then "[DONE]"
    And the job ran on a worker of "hive-a" spawned with "hf:TheBloke/phi-2-GGUF"

    Examples:
      | asked as               |
      | hf:TheBloke/phi-2-GGUF |
      | phi-2                  |

  @FULL-007 @p1 @provisioning @chaos
  Scenario: A downloaded file that does not match the hub's sha256 is refused and never recorded
    Given a stack with 1 hive of 0 workers
    And the model hub serves a corrupted copy of "hf:Qwen/Qwen2-0.5B-Instruct-GGUF"
    When a client submits a job for "hf:Qwen/Qwen2-0.5B-Instruct-GGUF" with max_tokens 3
    Then the queen refuses the job with an error naming the checksum mismatch
    And the hive "hive-a" does not have "hf:Qwen/Qwen2-0.5B-Instruct-GGUF" in its catalog
    And the hive "hive-a" lists no workers
