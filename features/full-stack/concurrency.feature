@full-stack
Feature: Concurrent jobs over several workers
  Many clients at once share the workers: every job completes, the load spreads, and no worker ever runs
  two jobs at the same time.
  Runs alone (@serial): ten jobs and three worker spawns at once beside three other stacks on two cores
  starved the hive past the queen's 2-s call bound (CI: three acquires timed out, the circuit opened, jobs
  were refused with HIVE_UNAVAILABLE); the scenario is about sharing workers, not a starved machine.

  @FULL-006 @p0 @concurrency @serial
  Scenario: Ten clients at once over three single-slot workers
    Given a stack with 1 hive of 3 workers
    And the hive "hive-a" may run at most 3 workers
    When 10 clients submit jobs for the default model with max_tokens 20 at once
    Then every job's stream is well-formed with exactly 20 tokens
    And no client had to retry its submission
    And the jobs ran on all 3 workers of "hive-a"
    And no worker ran two jobs at the same time
    And within 3 seconds the hive "hive-a" lists exactly 3 workers, all "idle"
