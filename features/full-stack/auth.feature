@full-stack @auth
Feature: Authentication end to end
  Every hop needs a bearer: clients send the service token or a JWT signed by the stack's key; the queen
  checks the JWT and passes its subject on to the hive and the worker; services call each other with the
  service token.

  @FULL-002 @p0
  Scenario: A job without a token is refused with a Bearer challenge
    Given a stack with 1 hive of 1 worker
    When a client without a token submits a job for the default model
    Then the answer is 401 "MISSING_API_KEY"
    And the answer carries the header "www-authenticate" "Bearer"

  @FULL-002 @p0
  Scenario Outline: A bad JWT is refused with INVALID_TOKEN naming why
    Given a stack with 1 hive of 1 worker
    When a client with <kind> JWT submits a job for the default model
    Then the answer is 401 "INVALID_TOKEN"
    And the error message mentions "<reason>"

    Examples:
      | kind                      | reason     |
      | an expired                | exp        |
      | a wrong-audience          | aud        |
      | a forged (wrong key)      | signature  |

  @FULL-002 @p0
  Scenario: A valid JWT runs the job and its subject reaches the hive and the worker
    Given a stack with 1 hive of 1 worker
    When a client with a valid JWT for subject "alice@example.org" submits a job with correlation id "full-002-jwt"
    Then the stream is well-formed with exactly 8 tokens in order, then "end", then "[DONE]"
    And the response carries correlation id "full-002-jwt"
    And the hive's log lines for correlation id "full-002-jwt" name subject "alice@example.org"
    And the worker's log lines for correlation id "full-002-jwt" name subject "alice@example.org"

  @FULL-002 @p1
  Scenario: A hive holding the wrong service token cannot join the queen
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" is given a wrong service token
    Then for 3 heartbeat intervals the queen does not list the hive "hive-a"
    And the hive "hive-a" logs that its heartbeat was refused with 401

  @FULL-002 @p1
  Scenario: A hive that refuses the queen's service token runs none of the queen's jobs
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" is given a wrong service token
    When the hive "hive-a" is added to the queen's registry at its own address
    And a client submits a job for the default model on node "hive-a"
    Then the queen refuses the job before any token, with an error body
    And the hive "hive-a" answered the queen's call with 401

  @FULL-002 @p1
  Scenario: A worker holding the wrong service token cannot register with its hive
    Given a stack with 1 hive of 0 workers
    And the hive "hive-a" has the default model in its catalog
    When a worker "ext-wrong-token" holding a wrong service token is started outside the hive with a callback to "hive-a"
    Then the worker "ext-wrong-token" logs that its ready callback was refused with 401, and exits
    And for 3 heartbeat intervals the hive "hive-a" does not list worker "ext-wrong-token"

  @FULL-002 @p1 @requires-workers-outliving-hive
  Scenario: A hive restarted holding another service token than its workers takes none of them back
    Given a stack with 1 hive of 1 worker
    And a snapshot of the hive "hive-a" worker ids
    When the hive "hive-a" is restarted holding a wrong service token
    Then the hive "hive-a" drops each worker it had, saying the worker refused its token with 401
    And for 3 heartbeat intervals the hive "hive-a" counts no worker in its health and metrics
