-- Human handoff: the member of staff who took a conversation, and the bot's summary of the case
-- attached when it was handed over.
ALTER TABLE conversations ADD COLUMN assigned_to TEXT;
ALTER TABLE conversations ADD COLUMN handoff_summary TEXT;
