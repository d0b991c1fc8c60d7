CREATE TABLE `retention_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`ran_at` integer NOT NULL,
	`raw_deleted` integer NOT NULL,
	`records_deleted` integer NOT NULL,
	`threads_deleted` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `aliases` ADD `raw_retention_days` integer;--> statement-breakpoint
ALTER TABLE `settings` ADD `raw_retention_days` integer DEFAULT 90 NOT NULL;--> statement-breakpoint
ALTER TABLE `settings` ADD `record_retention_days` integer DEFAULT 400 NOT NULL;--> statement-breakpoint
CREATE INDEX `messages_raw` ON `messages` (`id`) WHERE raw_key is not null;