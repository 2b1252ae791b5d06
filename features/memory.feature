Feature: Memory
  Tenant-scoped memory items, searchable by embedding similarity.

  Background:
    Given I work as a new tenant "memory"

  @PRS-MEM-001
  Scenario: Store, read and delete an item; another tenant cannot see it
    When I remember "favourite colour is teal" as "prefs/colour"
    Then recalling "prefs/colour" gives "favourite colour is teal"
    And another tenant recalling "prefs/colour" gets a 404 problem
    When I forget "prefs/colour"
    Then recalling "prefs/colour" fails with a 404 problem

  @PRS-MEM-002
  Scenario: Search ranks the items sharing words with the query first
    Given I remember "the cat sat on the mat" as "notes/cat"
    And I remember "stock prices rose sharply today" as "notes/stocks"
    And I remember "a dog chased the cat" as "notes/dog"
    When I search "notes" for "where is the cat" with top 2
    Then the matches are "notes/cat" then "notes/dog"

  @PRS-MEM-003 @inprocess
  Scenario: An item with a TTL expires
    When I remember "short lived" as "tmp/x" for 1 second
    Then recalling "tmp/x" gives "short lived"
    When 1.5 seconds pass
    Then recalling "tmp/x" fails with a 404 problem
