@integration @multi-hive
Feature: Jobs spread over several hives
  # @serial for the reason FULL-006 is: ten jobs at once beside other stacks starved a hive past the queen's
  # 2-s call bound and its circuit opened (seen under load).
  @INT-001 @p1 @serial
  Scenario: Ten jobs over two hives of two workers each
    Given a stack with 2 hives of 2 workers
    And every hive may run at most 2 workers
    When 10 clients submit jobs for the default model with max_tokens 10 at once
    Then every job's stream is well-formed with exactly 10 tokens
    And no client had to retry its submission
    And each hive ran at least 3 of the jobs
