@full-stack
Feature: A model is provisioned on first use
  When a job asks for a model the hive does not have, the hive downloads it from the model hub (one
  download, with a progress stream), checks it against the hub's checksum, records it in its catalog,
  spawns a worker with it, and the job runs.

  @FULL-007 @p0 @provisioning
  Scenario: The first job for a model downloads it, records it and runs on a new worker
    Given a stack with 1 hive of 0 workers
    And the model hub serves files at 1 MiB per second
    And the hive "hive-a" does not have "hf:TheBloke/phi-2-GGUF" in its catalog
    When a client submits a job for "hf:TheBloke/phi-2-GGUF" with max_tokens 5
    Then the hive "hive-a" downloads the model's file from the hub
    And the download's progress stream goes "started", "downloading" with a strictly increasing fraction, then "complete"
    And the hub served the model's file exactly once
    And the hive "hive-a" lists "hf:TheBloke/phi-2-GGUF" in its catalog with the hub's sha256
    And the stream is well-formed with exactly 5 tokens in order, then "end", then "[DONE]"
    And the job ran on a worker of "hive-a" spawned with "hf:TheBloke/phi-2-GGUF"
