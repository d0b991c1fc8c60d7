ALTER TABLE `messages` ADD `bounce_address` text;--> statement-breakpoint
-- Outbound messages queued before the column: their bounce address was kept in the decision.
UPDATE `messages` SET `bounce_address` = json_extract(`decision`, '$.bounce_address') WHERE `direction` = 'out';
