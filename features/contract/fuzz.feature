@contract
Feature: Generated invalid requests get the contract's error and change nothing
  Property-based (fast-check, seeded by RBEE_SEED, shrunk on failure): each request to a public route is
  invalid in a known way — wrong types, missing or out-of-range fields (with unknown extra fields), bad JSON,
  an empty or non-object body, a body over 2 MiB, a wrong token — and has exactly one right answer.

  @CONTRACT-001 @p1
  Scenario: Generated invalid requests to every public route are refused as the contract says
    Given a stack with 1 hive of 1 worker
    Then each of 150 generated invalid requests to the public routes gets the contract's error: status, code, every failing field and its correlation id, never a 5xx
    And since then no job ran and no worker was spawned or removed
