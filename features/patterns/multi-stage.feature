@patterns @full-stack
Feature: Long-running operations answer in stages
  Each long-running operation of the stack replies start → progress → completed. Every example uses its
  own ids, so examples cannot see each other's events.

  @PAT-001 @p1
  Scenario Outline: <operation> goes through its stages in order, with matching ids, to a terminal event
    Given a stack with 1 hive of 0 workers
    And the model hub serves files at 2 MiB per second
    And workers take 800 ms to load a model
    When the operation "<operation>" is started for "<model>"
    Then its replies go through the stages <stages> in order
    And every reply carries the operation's own id
    And its progress values strictly increase and end at <end>
    And the terminal reply "<terminal>" arrives within <seconds> seconds

    Examples:
      | operation      | model                                      | stages                                                    | end | terminal        | seconds |
      | model download | hf:Qwen/Qwen2-0.5B-Instruct-GGUF           | "started, downloading+, complete"                         | 1   | complete        | 10      |
      | worker load    | hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF  | "loading_to_vram+, ready"                                 | 1   | ready           | 10      |
      | inference job  | hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF  | "narration+, started, token+, end"                        | 1   | end             | 15      |
