@full-stack
Feature: Metrics and logs across components
  @FULL-010 @p1 @metrics
  Scenario: One job moves each service's counters by exactly the expected amount and is traceable
    Given a stack with 1 hive of 1 worker
    And a snapshot of every service's metrics
    When a client submits a job for the default model with max_tokens 7 and correlation id "full-010-trace"
    Then the stream is well-formed with exactly 7 tokens in order, then "end", then "[DONE]"
    And the metrics moved by exactly:
      | service | metric                               | labels                                 | delta |
      | queen   | rbee_queen_requests_total            | route=/v2/tasks,code=200               | 1     |
      | queen   | rbee_queen_jobs_total                | outcome=completed                      | 1     |
      | worker  | rbee_worker_jobs_total               | outcome=completed                      | 1     |
      | worker  | rbee_worker_tokens_generated_total   |                                        | 7     |
      | hive    | rbee_hive_worker_crashes_total       |                                        | 0     |
    And two scrapes in a row read the same gauges, and the hive's worker gauge matches its worker list
    And the OpenMetrics exemplars of "queen" and "worker" carry correlation id "full-010-trace"
    And the logs of every service for correlation id "full-010-trace" form one ordered timeline covering queen, hive and worker
