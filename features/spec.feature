@inprocess @repo
Feature: Spec authority
  spec/ is the source of truth: gen/ must be exactly what ogen makes of it, /v1 may only
  grow, and every requirement has a scenario. These scenarios run the same checks as
  `make verify` on a scratch copy of the repository.

  @PRS-SPC-001
  Scenario: An edited generated file is caught
    Given a scratch copy of the spec and generated code
    Then the generated-code check passes
    When I append a line to "gen/orchestratorapi/oas_schemas_gen.go" in the copy
    Then the generated-code check fails naming "oas_schemas_gen.go"

  @PRS-SPC-001
  Scenario: A hand-written file under gen/ is caught
    Given a scratch copy of the spec and generated code
    Then the generated-header check passes
    When I add a file "gen/orchestratorapi/handwritten.go" without the generated header in the copy
    Then the generated-header check fails naming "handwritten.go"

  @PRS-SPC-002
  Scenario: Removing a required response field from a /v1 operation is caught
    Given a scratch copy of the spec and generated code
    Then the breaking-change check passes
    When I remove the required field "version" from the "Health" schema in the copy
    Then the breaking-change check fails

  @PRS-SPC-003
  Scenario: A requirement without a scenario is caught
    Given a scratch copy of the spec and generated code
    Then the coverage check passes
    When I add the requirement "PRS-ZZZ-999" to the copy's prs.md
    Then the coverage check fails naming "PRS-ZZZ-999"
