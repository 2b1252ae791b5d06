@PRS-HLT-001 @inprocess
Feature: Health

  Scenario: health answers ok
    When I get "/v1/health"
    Then the status is 200

  @PRS-HLT-002
  Scenario: ready when the database answers
    When I get "/v1/ready"
    Then the status is 200
