@chaos @chaos-under-load
Feature: Chaos under load
  Jepsen-style runs: clients submit jobs at a steady rate, open loop, while a schedule of faults drawn from
  the seed (RBEE_SEED) strikes the stack. Every job is recorded in a history and judged with the services'
  own evidence. The schedule is written to reports/chaos/<ID>.schedule.json; RBEE_CHAOS_SCHEDULE=<file>
  replays one. Kinds the runtime cannot inject are dropped from the menu, with the reason in the report.
  Workers get two slots each, so that only the hive's routing keeps a worker to one job at a time: a routing
  bug then shows as two jobs at once on one worker instead of hiding behind the worker's own refusal.
  The runs are @serial, as Jepsen's are: the stack's timing knobs are short (a worker silent for 1.5 s is
  unhealthy), and on two cores shared with three other stacks a starved worker missed its heartbeats and was
  killed by its hive with no fault near it — the verdict measured the neighbours, not the stack.

  @CHAOS-001 @p1 @serial
  Scenario: Jobs at a steady rate through a handful of drawn faults are all accounted for
    Given a stack with 2 hives of 2 workers
    And each worker has 2 inference slots
    When clients submit 4 jobs per second for 20 seconds while 5 faults drawn from this menu strike:
      | crash-worker          |
      | pause-worker          |
      | crash-hive            |
      | restart-hive          |
      | pause-hive            |
      | restart-queen         |
      | partition-queen-hive  |
      | partition-hive-worker |
      | slow-link             |
      | corrupt-catalog       |
    Then every accepted job terminated, and no stream was cut without an error event
    And no job's tokens were out of order, duplicated or more than it asked for
    And no job ran on two workers, and no worker ran two jobs at once
    And no hive listed a worker as idle while it ran a job
    And every failure a fault caused was reported as retryable
    And no job was routed to a worker its hive had already reported dead
    And the queen's and the workers' job counters reconcile with the history
    And the stack converged within 10 seconds of the last heal

  @CHAOS-002 @p1 @nightly @serial
  Scenario: Ten minutes of jobs through dozens of overlapping faults on two hives are all accounted for
    Given a stack with 2 hives of 2 workers
    And each worker has 2 inference slots
    When clients submit 4 jobs per second for 600 seconds while 40 faults drawn from this menu strike:
      | crash-worker          |
      | pause-worker          |
      | crash-hive            |
      | restart-hive          |
      | pause-hive            |
      | restart-queen         |
      | partition-queen-hive  |
      | partition-hive-worker |
      | slow-link             |
      | corrupt-catalog       |
    Then every accepted job terminated, and no stream was cut without an error event
    And no job's tokens were out of order, duplicated or more than it asked for
    And no job ran on two workers, and no worker ran two jobs at once
    And no hive listed a worker as idle while it ran a job
    And every failure a fault caused was reported as retryable
    And no job was routed to a worker its hive had already reported dead
    And the queen's and the workers' job counters reconcile with the history
    And the stack converged within 10 seconds of the last heal
