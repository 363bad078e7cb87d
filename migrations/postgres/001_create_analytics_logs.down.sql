-- Dropping the parent drops every partition, including those created by pgstore.MaintainPartitions.
DROP TABLE IF EXISTS analytics_event_ids;
DROP TABLE IF EXISTS analytics_logs;
