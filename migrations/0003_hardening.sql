CREATE TABLE `loop_entries` (
	`sender` text NOT NULL,
	`route_key` text NOT NULL,
	`delivery` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`sender`, `route_key`, `delivery`)
);
--> statement-breakpoint
CREATE INDEX `loop_entries_window` ON `loop_entries` (`sender`,`at`);--> statement-breakpoint
CREATE INDEX `loop_entries_at` ON `loop_entries` (`at`);--> statement-breakpoint
DROP INDEX `message_threads_route`;--> statement-breakpoint
ALTER TABLE `message_threads` ADD `sender` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `message_threads_route` ON `message_threads` (`message_key`,`sender`,`route_key`);--> statement-breakpoint
ALTER TABLE `threads` ADD `domain` text;--> statement-breakpoint
-- Routes recorded before senders were: the sender of inbound mail is its From, else its MAIL FROM (lowercased).
UPDATE `message_threads` SET `sender` = coalesce((SELECT coalesce(`from_address`, lower(`mail_from`)) FROM `messages` WHERE `messages`.`id` = `message_threads`.`message_id` AND `messages`.`direction` = 'in'), '');
