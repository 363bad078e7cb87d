DROP TABLE analytics_logs;
