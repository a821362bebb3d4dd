-- Apply one node's occupancy changes in order, atomically, and say which crossed the
-- cluster-wide 0 <-> 1 transition.
-- ARGV: prefix, node id, then (kind, channel id) pairs; kind 'o' (occupied) or 'v' (vacated).
-- <prefix>:wh:occ:{<app>:<channel>} (hash-tagged, see broker/redis_keys.py) is the set of
-- nodes where the channel is occupied;
-- {prefix}:wh:node-occ:{node} the channels one node occupies (to reap it when it dies).
-- Returns one 0/1 per change: 1 when the first node arrived or the last one left.
local prefix, node = ARGV[1], ARGV[2]
local index = prefix .. ':wh:node-occ:' .. node
redis.call('SADD', prefix .. ':wh:owners', node)
local out = {}
for i = 3, #ARGV, 2 do
  local kind, chan = ARGV[i], ARGV[i + 1]
  local key = prefix .. ':wh:occ:{' .. chan .. '}'
  local crossed = 0
  if kind == 'o' then
    if redis.call('SADD', key, node) == 1 then
      redis.call('SADD', index, chan)
      if redis.call('SCARD', key) == 1 then crossed = 1 end
    end
  elseif redis.call('SREM', key, node) == 1 then
    redis.call('SREM', index, chan)
    if redis.call('SCARD', key) == 0 then crossed = 1 end
  end
  table.insert(out, crossed)
end
return out
