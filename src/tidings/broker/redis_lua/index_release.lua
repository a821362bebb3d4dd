-- One connection fewer of this node on a channel: decrement its index entry and
-- drop the entry at zero, atomically (the index key only).
-- KEYS[1] the node's index hash   channel id -> its connections there
-- ARGV: channel id
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
