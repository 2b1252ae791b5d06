Feature: Tenant isolation
  Another tenant's resource is indistinguishable from a missing one.

  @PRS-ISO-001
  Scenario: Every endpoint hides another tenant's agents, runs and events
    Given tenant "owner" has the agent "secret" and a run of it
    And I work as a new tenant "intruder"
    Then getting the agent "secret" fails with a 404 problem
    And listing agents shows nothing
    And putting the agent "secret" creates my own agent at version 1
    And deleting the owner's agent through my tenant leaves it in place
    And getting, cancelling, waiting for and streaming the owner's run are 404 problems
    And listing runs shows only my own
    And the owner's run is untouched
