-- Where each tag or incident stated now reaches downstream: the newest state of every
-- (tag, affected node), retracted ones left out.
CREATE OR REPLACE VIEW active_tag_impacts AS
SELECT tag_node, tag, incident_id, affected, kind, depth, window_start, window_end
FROM tag_impacts FINAL
WHERE active = 1
