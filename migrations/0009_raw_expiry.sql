DROP INDEX `messages_raw`;--> statement-breakpoint
ALTER TABLE `messages` ADD `raw_expires_at` integer;--> statement-breakpoint
CREATE INDEX `messages_raw_expiry` ON `messages` (`raw_expires_at`) WHERE raw_key is not null and raw_expires_at is not null;--> statement-breakpoint
-- Raw copies stored before the column: their expiry by the retention that applies now (an alias's, else the setting, else 90 days).
UPDATE `messages` SET `raw_expires_at` = (
  SELECT CASE WHEN d = 0 THEN NULL ELSE `messages`.`created_at` + d * 86400000 END FROM (
    SELECT coalesce(
      (SELECT min(a.`raw_retention_days`) FROM `message_threads` mt JOIN `aliases` a ON a.`id` = mt.`alias_id` WHERE mt.`message_id` = `messages`.`id` AND a.`raw_retention_days` IS NOT NULL),
      (SELECT s.`raw_retention_days` FROM `settings` s WHERE s.`id` = 1),
      90) AS d))
WHERE `raw_key` IS NOT NULL;
