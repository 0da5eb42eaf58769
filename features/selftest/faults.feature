@fault-selftest
Feature: Fault primitives apply and heal, proven by observation
  Each fault the harness can inject is applied to a real stack and observed to take effect, then healed
  and observed to be gone. A fault the runtime cannot inject is skipped with the reason.

  Background:
    Given a stack with 1 hive of 1 worker

  @SELF-001 @chaos
  Scenario: Crash — SIGKILL ends the worker process and the hive records the signal
    When the first worker of "hive-a" is killed with SIGKILL
    Then within 2 seconds that worker's process is gone
    And within 5 seconds the hive logs "worker.crashed" for that worker with signal "SIGKILL"

  @SELF-002 @chaos
  Scenario: Graceful stop — SIGTERM makes a service exit 0
    When the service "hive-a" receives SIGTERM
    Then the service "hive-a" exits with code 0 within 15 seconds
    And within 2 seconds that hive's worker processes are gone

  @SELF-003 @chaos
  Scenario: Pause and resume — a paused service does not answer, a resumed one does
    When the service "hive-a" is paused
    Then the service "hive-a" does not answer its health route within 500 ms
    When the service "hive-a" is resumed
    Then the service "hive-a" answers its health route

  @SELF-004 @chaos
  Scenario: Restart — a restarted service comes back with its data
    When the service "queen" is restarted
    Then the service "queen" answers its health route
    And within 5 seconds the queen lists the hive "hive-a" as "available"

  @SELF-005 @chaos
  Scenario: Corruption — bytes of a service's file are really overwritten
    When the hive "hive-a" is stopped
    And 4096 bytes at the start of the file "hive.db" of "hive-a" are overwritten with garbage
    Then the file "hive.db" of "hive-a" no longer starts with the SQLite header

  @SELF-006 @chaos
  Scenario: Partition — calls between two services fail both ways while the harness reaches both, and work after heal
    When "hive-a" and "queen" are partitioned
    Then a call from "hive-a" to the health route of "queen" fails
    And a call from "queen" to the health route of "hive-a" fails
    And the harness still reaches "queen" and "hive-a"
    When the partition is healed
    Then a call from "hive-a" to the health route of "queen" succeeds
    And a call from "queen" to the health route of "hive-a" succeeds

  @SELF-007 @chaos
  Scenario: One-way partition — only the named direction is cut
    When "hive-a" is cut off from "queen" in one direction
    Then a call from "hive-a" to the health route of "queen" fails
    And a call from "queen" to the health route of "hive-a" succeeds
    When the partition is healed
    Then a call from "hive-a" to the health route of "queen" succeeds

  @SELF-008 @chaos
  Scenario: Latency — a link proxy slows the named link, and stops after heal
    When 300 ms of latency is added from "hive-a" to "queen"
    Then a call from "hive-a" to the health route of "queen" takes at least 300 ms
    When the latency is removed
    Then a call from "hive-a" to the health route of "queen" takes less than 300 ms

  @SELF-009 @chaos @requires-docker @oom
  Scenario: Out of memory — a real kernel OOM kill, confirmed by the engine
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" has a memory limit of 256 MiB
    When the hive "hive-a" is asked to spawn a worker for "hf:rbee/oversized-GGUF"
    Then within 30 seconds the engine confirms an out-of-memory kill in "hive-a"
    And the hive logs "worker.spawn_failed" for that worker

  @SELF-010 @chaos
  Scenario: Storage unavailable — the service cannot write its database while it lasts, and writes it after the heal
    Given the queen's registry database lists the hives "hive-a"
    When the queen's registry database becomes unavailable
    Then the queen's registry database cannot be opened
    And within 5 seconds of the fault the queen logs "store.write_failed"
    When the hive "hive-x" at "http://127.0.0.1:9" is added to the queen's registry
    And the queen's registry database is available again
    Then within 5 seconds of the heal the queen logs "store.recovered"
    And within 5 seconds of the heal the queen's registry database lists the hives "hive-a" and "hive-x", each at the address the queen lists, and every hive it held before
