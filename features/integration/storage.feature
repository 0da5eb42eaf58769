@integration @storage @chaos
Feature: The queen's registry storage becomes unavailable
  The queen keeps its hive registry in memory and mirrors it to SQLite (contract §1 "Restart"). When the file
  cannot be opened, the queen goes on from memory, says so in its log and retries; once the storage is back it
  writes the whole registry, so nothing registered in between is lost. The fault moves the database aside and
  puts a directory in its place (every open fails, for root too); the heal puts the same file back.

  @INT-007 @p1
  Scenario: The queen's registry database is unavailable while hives heartbeat: known hives stay usable, nothing is lost
    Given a stack with 2 hives of 1 worker
    And the queen's registry database lists the hives "hive-a" and "hive-b"
    When the queen's registry database becomes unavailable
    And the hive "hive-x" at "http://127.0.0.1:9" is added to the queen's registry
    Then within 5 seconds of the fault the queen logs "store.write_failed"
    And within 5 seconds every view shows the hive "hive-a" as "available"
    When a client submits a job for the default model with max_tokens 4
    Then the stream is well-formed with exactly 4 tokens in order, then "end", then "[DONE]"
    When the queen's registry database is available again
    Then within 5 seconds of the heal the queen's registry database lists the hives "hive-a", "hive-b" and "hive-x", each at the address the queen lists, and every hive it held before
    When the service "queen" is restarted
    Then within 5 seconds the queen lists the hives "hive-a", "hive-b" and "hive-x"
