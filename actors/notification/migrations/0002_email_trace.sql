-- The traceparent of the event an email was rendered for, so that its
-- sending (maybe minutes later, maybe by another replica) is a span of
-- that event's trace.
ALTER TABLE emails ADD COLUMN traceparent text NOT NULL DEFAULT '';
