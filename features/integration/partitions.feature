@integration @network-partition @chaos
Feature: Network partitions between services
  @INT-004 @p0
  Scenario: Queen and hive partitioned: the hive becomes unavailable, jobs are refused as retryable, and all heals
    Given a stack with 1 hive of 1 worker
    When "queen" and "hive-a" are partitioned
    Then within 5 seconds the queen lists the hive "hive-a" as "unavailable"
    And within 5 seconds every view shows the hive "hive-a" as "unavailable"
    And a new job is refused with 503 "HIVE_UNAVAILABLE" and may be retried
    When the partition is healed
    Then within 5 seconds the queen lists the hive "hive-a" as "available"
    And within 5 seconds every view shows the hive "hive-a" as "available"
    And within 10 seconds a new job for the default model completes
    And no accepted job of this scenario was lost or duplicated

  @INT-005 @p1
  Scenario: Hive and worker partitioned: the worker is marked unhealthy and not used, then comes back
    Given a stack with 1 hive of 1 worker
    # 4 s: the hive also kills a worker that stays unhealthy that long, and every view must be read before the heal.
    And a worker is declared unhealthy after 4 seconds without a heartbeat
    When the first worker of "hive-a" is cut off from its hive
    # 6 s = the 4 s of silence + the hive's monitor tick + applying the cut (iptables in two namespaces).
    Then within 6 seconds the hive "hive-a" lists that worker as "unhealthy"
    And within 8 seconds every view shows that worker as "unhealthy"
    And a job submitted now is not routed to that worker
    When the partition is healed
    Then within 10 seconds the hive "hive-a" lists that worker as "idle"
    And within 10 seconds every view shows that worker as "idle"
    And within 10 seconds a new job for the default model completes
