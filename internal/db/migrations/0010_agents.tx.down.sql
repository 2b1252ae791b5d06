DROP TABLE IF EXISTS agent_labels;
--bun:split
DROP TABLE IF EXISTS agent_versions;
--bun:split
DROP TABLE IF EXISTS agents;
