CREATE TABLE `bounce_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`email` text NOT NULL,
	`report_id` text NOT NULL,
	`original_id` text NOT NULL,
	`kind` text NOT NULL,
	`status` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `bounce_events_email` ON `bounce_events` (`email`,`created_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `bounce_events_once` ON `bounce_events` (`report_id`,`email`);--> statement-breakpoint
CREATE TABLE `delivery_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`delivery_id` text NOT NULL,
	`result` text NOT NULL,
	`status_code` integer,
	`error` text,
	`started_at` integer NOT NULL,
	`finished_at` integer NOT NULL,
	FOREIGN KEY (`delivery_id`) REFERENCES `deliveries`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `delivery_attempts_delivery` ON `delivery_attempts` (`delivery_id`,`id`);--> statement-breakpoint
ALTER TABLE `aliases` ADD `followers` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `aliases` ADD `webhook_secrets` text;--> statement-breakpoint
ALTER TABLE `contacts` ADD `suppressed_reason` text;--> statement-breakpoint
ALTER TABLE `contacts` ADD `last_bounce_at` integer;--> statement-breakpoint
ALTER TABLE `deliveries` ADD `next_attempt_at` integer;--> statement-breakpoint
ALTER TABLE `deliveries` ADD `redelivery_of` text;--> statement-breakpoint
CREATE INDEX `deliveries_due` ON `deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
-- Webhook deliveries recorded before webhooks were posted: due now, so the sweeper queues them.
UPDATE `deliveries` SET `next_attempt_at` = `created_at` WHERE `type` = 'webhook' AND `status` = 'pending' AND `next_attempt_at` IS NULL;
