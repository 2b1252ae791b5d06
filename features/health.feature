Feature: Health, readiness and metrics
  Operators and orchestrators probe every service for liveness and readiness and scrape
  its Prometheus metrics.

  @PRS-HLT-001
  Scenario: The orchestrator is alive
    When I check the health of the orchestrator
    Then the service reports status "ok" as "orchestrator" with a version

  @PRS-HLT-002
  Scenario: Model Policy is alive
    When I check the health of the modelpolicy
    Then the service reports status "ok" as "modelpolicy" with a version

  @PRS-HLT-003
  Scenario: Federation is alive
    When I check the health of the federation
    Then the service reports status "ok" as "federation" with a version

  @PRS-HLT-004
  Scenario Outline: Each service is ready when its database answers
    When I check the readiness of the <service>
    Then the service is ready with check "database" "ok"

    Examples:
      | service      |
      | orchestrator |
      | modelpolicy  |
      | federation   |

  @PRS-HLT-004 @inprocess
  Scenario Outline: A service whose database is gone is not ready
    Given a second node whose database has been closed
    When I send "GET" to "/v1/ready" on the second node's <service>
    Then the response is a 503 problem with code "unavailable"

    Examples:
      | service      |
      | orchestrator |
      | modelpolicy  |
      | federation   |

  @PRS-HLT-005
  Scenario Outline: Metrics count requests by operation and status, with a latency histogram
    Given I have checked the health of the <service>
    When I fetch the metrics of the <service>
    Then the metrics count requests for operation "getHealth" with status "200"
    And the metrics have a request latency histogram for operation "getHealth"

    Examples:
      | service      |
      | orchestrator |
      | modelpolicy  |
      | federation   |
