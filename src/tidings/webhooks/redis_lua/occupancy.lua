-- One node's occupancy change of one channel, atomically, and whether it crossed the
-- cluster-wide 0 <-> 1 transition. The channel's key only (one slot on a Redis Cluster).
-- KEYS[1] <prefix>:wh:occ:{<app>:<channel>}  the set of nodes where the channel is occupied
-- ARGV: 'o' (occupied) or 'v' (vacated), node id
-- Returns 1 when the first node arrived or the last one left, else 0.
if ARGV[1] == 'o' then
  if redis.call('SADD', KEYS[1], ARGV[2]) == 1 and redis.call('SCARD', KEYS[1]) == 1 then
    return 1
  end
elseif redis.call('SREM', KEYS[1], ARGV[2]) == 1 and redis.call('SCARD', KEYS[1]) == 0 then
  return 1
end
return 0
