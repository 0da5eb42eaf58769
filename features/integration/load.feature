@integration @load
Feature: Throughput and stability under steady load
  No fault is injected: under a load it has the capacity for, the stack completes every job, admits each
  quickly, and gives back the memory the load took. Jobs arrive open loop (each at its due time, whatever
  the stack does), so a slow answer shows in the latency instead of slowing the load down.
  Both scenarios are @serial: latency and memory bounds measured beside other stacks on two cores would
  measure the neighbours.
  Workers generate one token every 10 ms, one job at a time, so four workers serve 20 jobs of 8 tokens a
  second at about half their capacity.
  Both measure the stack at work, not its cold start: every worker runs one job before the load begins.
  Memory is each worker's own process_resident_memory_bytes. Garbage collection makes it saw up and down by
  several MiB, so it is compared with an allowance, not for equality: 20 MiB above the baseline, which a
  leak of 1 MiB per job (about 50 jobs per worker here) would break twice over.

  @INT-014 @p1 @serial
  Scenario: 20 jobs a second for 10 seconds are all admitted quickly and completed, and the workers' memory comes back
    Given a stack with 1 hive of 4 workers
    And every worker has run a warm-up job
    And the resident memory of every worker is recorded as its baseline
    When clients submit 20 jobs per second for 10 seconds, each asking for 8 tokens
    Then every job completed with an end event: none refused, cut or timed out
    And job admission took under 100 ms on average and under 500 ms at the 99th percentile
    And within 30 seconds every worker's resident memory is at most 20 MiB above its baseline

  @INT-014 @p1 @serial @nightly
  Scenario: 1000 jobs over a minute are all admitted quickly and completed, and the workers' memory comes back
    Given a stack with 1 hive of 4 workers
    And every worker has run a warm-up job
    And the resident memory of every worker is recorded as its baseline
    When clients submit 1000 jobs at a steady rate over 60 seconds, each asking for 8 tokens
    Then every job completed with an end event: none refused, cut or timed out
    And job admission took under 100 ms on average and under 500 ms at the 99th percentile
    And within 30 seconds every worker's resident memory is at most 20 MiB above its baseline

  # Memory trend: a least-squares line through one sample a second, after a warm-up in which the worker's
  # heap grows to its working size. A leak of 1 MiB per job at about four jobs a second climbs by some
  # 240 MiB a minute; a worker that only saws with garbage collection stays near zero.
  @INT-015 @p1 @serial
  Scenario: A worker running jobs back to back for 30 seconds keeps its memory flat and stays responsive
    Given a stack with 1 hive of 1 worker
    When a client runs jobs of 20 tokens back to back for 30 seconds, sampling the worker's memory every second and both /health endpoints every 250 ms
    Then every job completed with an end event: none refused, cut or timed out
    And the worker's resident memory rose by less than 30 MiB per minute after the first 10 seconds
    And the queen's and the worker's /health answered every time, under 100 ms at the 99th percentile
    And the worker still serves a fresh job of 5 tokens

  @INT-015 @p1 @serial @nightly
  Scenario: A worker running jobs back to back for 10 minutes keeps its memory flat and stays responsive
    Given a stack with 1 hive of 1 worker
    When a client runs jobs of 20 tokens back to back for 600 seconds, sampling the worker's memory every second and both /health endpoints every 250 ms
    Then every job completed with an end event: none refused, cut or timed out
    And the worker's resident memory rose by less than 2 MiB per minute after the first 60 seconds
    And the queen's and the worker's /health answered every time, under 100 ms at the 99th percentile
    And the worker still serves a fresh job of 5 tokens
