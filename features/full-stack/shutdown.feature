@full-stack
Feature: Graceful shutdown cascades from the queen to every worker
  @FULL-004 @p0 @shutdown
  Scenario: SIGTERM to the queen stops the hive and its worker, cleanly and within 30 seconds
    Given a stack with 1 hive of 1 worker
    When the queen receives SIGTERM
    Then the hive and its worker log that they were asked to shut down
    And the queen and the hive exit with code 0 within 30 seconds
    And the hive reports that its worker exited with code 0
    And no process of the stack is left running
