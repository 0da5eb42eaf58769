@full-stack
Feature: Health propagates from workers to the queen's system view
  The queen's /v2/health asks every hive for a deep health check, so a worker that stops answering
  shows up in the system view, and disappears from it when it recovers.

  @FULL-008 @p1 @health @chaos
  Scenario: A paused worker turns the system view degraded, and its recovery turns it ok
    Given a stack with 1 hive of 2 workers
    And a worker is declared unhealthy after 5 seconds without a heartbeat
    Then the queen's system health is "ok" with hive "hive-a" available and 2 healthy workers
    When the first worker of "hive-a" is paused
    Then within 5 seconds the queen's system health is "degraded" and names that worker as unhealthy
    And within 5 seconds every view shows that worker as "unhealthy"
    When that worker is resumed
    Then within 10 seconds the queen's system health is "ok" with hive "hive-a" available and 2 healthy workers
    And within 5 seconds every view shows that worker as "idle"
