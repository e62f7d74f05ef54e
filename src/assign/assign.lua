-- Switchboard assignment in Redis: the library every assignment script is built from.
--
-- Each script is this file followed by `return <entry>()`; redis.rs documents the key layout
-- and the reply contract. The rules are those of `board.rs`, decision for decision.
--
-- KEYS[1]: the deployment's config key (its hash tag routes the call in a cluster; every other
-- key shares that tag). ARGV[1]: the deployment's key prefix, `sb:{<namespace>}:`. The rest of
-- ARGV is the entry's own arguments.
--
-- Never compare strings with `<` here: Lua's comparison follows the server's locale
-- (strcoll). Orders come from sorted sets (byte order), or from `before` below.

local P = ARGV[1]

local function key(kind, id)
  if id == nil then
    return P .. kind
  end
  return P .. kind .. ':' .. id
end

-- Width of a queue key (hex): inverted priority (8), biased arrival (16), placing sequence (16).
local QKEY = 40
-- Width of a tick in a least-busy member (hex).
local TICK = 16
-- Queue members read per step while looking for a servable ticket.
local CHUNK = 32

local function hex16(n)
  return string.format('%016x', n)
end

-- Byte-wise `a < b`.
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

local function push(out, ...)
  for i = 1, select('#', ...) do
    out[#out + 1] = select(i, ...)
  end
end

local function config_missing()
  return redis.call('EXISTS', KEYS[1]) == 0
end

local function is_agent(a)
  return redis.call('ZSCORE', key('agents'), a) ~= false
end

-- ---- teams ----

local team_cache = {}

-- A configured team: { id, lb, offers, max_queue, cursor } (cursor -1: none), or false.
local function team_info(t)
  local info = team_cache[t]
  if info == nil then
    info = false
    if redis.call('ZSCORE', key('teams'), t) ~= false then
      local f = redis.call('HMGET', key('team', t), 'strategy', 'offers', 'max_queue', 'cursor')
      info = {
        id = t,
        lb = f[1] == 'lb',
        offers = f[2] == '1',
        max_queue = tonumber(f[3]) or 0,
        cursor = tonumber(f[4]) or -1,
      }
    end
    team_cache[t] = info
  end
  return info
end

-- ---- agents ----

-- { presence, capacity, load, tick }, or nil without an agent hash.
local function agent_state(a)
  local f = redis.call('HMGET', key('agent', a), 'presence', 'capacity', 'load', 'tick')
  if not f[1] then
    return nil
  end
  return {
    presence = f[1],
    capacity = tonumber(f[2]) or 0,
    load = tonumber(f[3]) or 0,
    tick = tonumber(f[4]) or 0,
  }
end

local function has_room(st)
  return st.presence == 'online' and st.load < st.capacity
end

local function teams_of(a)
  return redis.call('ZRANGE', key('agent_teams', a), 0, -1)
end

-- An agent's member in a least-busy index (scored by load): last tick, then id.
local function lb_member(st, a)
  return hex16(st.tick) .. '|' .. a
end

-- Add an agent with room to the index of team t.
local function index_in(t, team, a, st)
  if team.lb then
    redis.call('ZADD', key('elig', t), st.load, lb_member(st, a))
  else
    local position = redis.call('HGET', key('members', t), a)
    if position then
      redis.call('ZADD', key('elig', t), position, a)
    end
  end
end

-- Apply `change` to agent a's state `st` and store it, keeping the index of online agents with
-- room of every team of the agent right. Reads first, then writes (Redis does not undo the
-- writes of a script that fails midway).
local function update_agent(a, st, change)
  local teams = {}
  for _, t in ipairs(teams_of(a)) do
    local team = team_info(t)
    if team then
      teams[#teams + 1] = team
    end
  end
  local had_room = has_room(st)
  local old_member = lb_member(st, a)
  for field, value in pairs(change) do
    st[field] = value
  end
  redis.call('HSET', key('agent', a), 'presence', st.presence, 'load', st.load, 'tick', st.tick)
  local room = has_room(st)
  if not had_room and not room then
    return
  end
  for _, team in ipairs(teams) do
    local t = team.id
    if team.lb then
      if had_room then
        redis.call('ZREM', key('elig', t), old_member)
      end
      if room then
        index_in(t, team, a, st)
      end
    elseif had_room ~= room then
      if room then
        index_in(t, team, a, st)
      else
        redis.call('ZREM', key('elig', t), a)
      end
    end
  end
end

local function unload(a)
  local st = agent_state(a)
  if st then
    update_agent(a, st, { load = math.max(st.load - 1, 0) })
  end
end

local function set_lease(a, until_hex)
  local old = redis.call('HGET', key('agent', a), 'lease')
  if old then
    redis.call('ZREM', key('leases'), old .. '|' .. a)
  end
  redis.call('HSET', key('agent', a), 'lease', until_hex)
  redis.call('ZADD', key('leases'), 0, until_hex .. '|' .. a)
end

local function clear_lease(a)
  local old = redis.call('HGET', key('agent', a), 'lease')
  if old then
    redis.call('ZREM', key('leases'), old .. '|' .. a)
    redis.call('HDEL', key('agent', a), 'lease')
  end
end

-- ---- conversations ----

local function qmember(qkey, c)
  return qkey .. '|' .. c
end

-- A ticket's preferred agent, kept only if it is a configured agent.
local function known_preferred(p)
  if p and p ~= '' and is_agent(p) then
    return p
  end
  return nil
end

-- The preferred agent stored with a conversation (checked when it was placed).
local function stored_preferred(p)
  if p and p ~= '' then
    return p
  end
  return nil
end

local function new_conv(c, ckey, channel, t, qkey, preferred)
  redis.call('HSET', key('conv', c), 'status', 'q', 'team', t, 'agent', '', 'key', ckey,
    'channel', channel, 'qkey', qkey, 'preferred', preferred or '')
  redis.call('SADD', key('placed'), c)
end

local function declined_of(c)
  local list = redis.call('SMEMBERS', key('declined', c))
  local set = {}
  for _, a in ipairs(list) do
    set[a] = true
  end
  return set, #list
end

local function position(t, member)
  local rank = redis.call('ZRANK', key('queue', t), member)
  if rank then
    return rank + 1
  end
  return nil
end

-- Placements are 6 values each: kind (A assigned, O offered, Q queued), conversation id, its
-- key, its channel, team, then the agent (A, O) or the queued position (Q).
local function emit_queued(out, c, ckey, channel, t, member)
  push(out, 'Q', c, ckey, channel, t, position(t, member) or 0)
end

-- ---- decisions ----

-- First member of a round-robin index in `found` (id, score pairs) nobody declined.
local function first_rr(found, declined)
  for i = 1, #found, 2 do
    if not declined[found[i]] then
      return found[i], tonumber(found[i + 1])
    end
  end
  return nil
end

-- The agent a ticket of `team` goes to now: the preferred agent if online with room, a member
-- and not a decliner, else the team's strategy among the others. Returns the agent and, for a
-- round-robin pick, its member position (the team's next cursor). Changes nothing.
local function pick(team, preferred, declined, ndeclined)
  local elig = key('elig', team.id)
  if redis.call('ZCARD', elig) == 0 then
    return nil
  end
  if preferred and not declined[preferred] then
    local st = agent_state(preferred)
    if st and has_room(st) and redis.call('HEXISTS', key('members', team.id), preferred) == 1 then
      return preferred, nil
    end
  end
  -- At most ndeclined of the first ndeclined + 1 candidates are decliners.
  local limit = ndeclined + 1
  if team.lb then
    local found = redis.call('ZRANGE', elig, 0, ndeclined)
    for _, m in ipairs(found) do
      local a = string.sub(m, TICK + 2)
      if not declined[a] then
        return a, nil
      end
    end
    return nil
  end
  local a, pos = first_rr(redis.call('ZRANGEBYSCORE', elig, '(' .. team.cursor, '+inf',
    'WITHSCORES', 'LIMIT', 0, limit), declined)
  if a then
    return a, pos
  end
  return first_rr(redis.call('ZRANGEBYSCORE', elig, '-inf', team.cursor,
    'WITHSCORES', 'LIMIT', 0, limit), declined)
end

-- Give conversation c to agent a (offer or assign), count it in a's load, move the team's
-- cursor (round robin) and emit the placement.
local function commit(out, c, ckey, channel, team, a, pos, offer)
  local tick = redis.call('INCR', key('ticks'))
  local st = agent_state(a)
  if st then
    update_agent(a, st, { load = st.load + 1, tick = tick })
  end
  if pos then
    team.cursor = pos
    redis.call('HSET', key('team', team.id), 'cursor', pos)
  end
  local status, kind, held = 'a', 'A', 'assigned'
  if offer then
    status, kind, held = 'o', 'O', 'offered'
  end
  redis.call('HSET', key('conv', c), 'status', status, 'agent', a, 'team', team.id)
  redis.call('ZADD', key(held, a), 0, c)
  push(out, kind, c, ckey, channel, team.id, a)
end

-- Serve the queued tickets of `teams` (ids; retired ones are skipped) for as long as someone
-- eligible can take one, best ticket (priority, arrival, placing order) across them first.
local function drain_teams(teams, out)
  while true do
    local best = nil
    for _, t in ipairs(teams) do
      local team = team_info(t)
      if team and redis.call('ZCARD', key('elig', t)) > 0 then
        local queue = key('queue', t)
        local start = 0
        local searching = true
        while searching do
          local members = redis.call('ZRANGE', queue, start, start + CHUNK - 1)
          if #members == 0 then
            break
          end
          for _, m in ipairs(members) do
            local prefix = string.sub(m, 1, QKEY)
            if best and not before(prefix, best.prefix) then
              searching = false
              break
            end
            local c = string.sub(m, QKEY + 2)
            local preferred = stored_preferred(redis.call('HGET', key('conv', c), 'preferred'))
            local declined, ndeclined = declined_of(c)
            local agent, pos = pick(team, preferred, declined, ndeclined)
            if agent then
              best = { team = team, member = m, prefix = prefix, c = c, agent = agent, pos = pos }
              searching = false
              break
            end
          end
          start = start + CHUNK
        end
      end
    end
    if not best then
      return
    end
    redis.call('ZREM', key('queue', best.team.id), best.member)
    local f = redis.call('HMGET', key('conv', best.c), 'key', 'channel')
    commit(out, best.c, f[1] or '', f[2] or '', best.team, best.agent, best.pos, best.team.offers)
  end
end

-- Serve the queued tickets of agent a's teams (and `extra`): see drain_teams.
local function drain(a, extra, out)
  local teams = teams_of(a)
  if extra then
    teams[#teams + 1] = extra
  end
  drain_teams(teams, out)
end

-- ---- entries ----

local NOCONFIG = { 'noconfig' }

-- place: c, conversation key, channel, team, queue prefix, preferred agent ('' for none).
local function place()
  if config_missing() then
    return NOCONFIG
  end
  local c, ckey, channel, t, qprefix = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  if redis.call('EXISTS', key('conv', c)) == 1 then
    return { 'already_placed', c }
  end
  local team = team_info(t)
  if not team then
    return { 'unknown_team', t }
  end
  local preferred = known_preferred(ARGV[7])
  local agent, pos = pick(team, preferred, {}, 0)
  if not agent and redis.call('ZCARD', key('queue', t)) >= team.max_queue then
    return { 'queue_full', t }
  end
  local qkey = qprefix .. hex16(redis.call('INCR', key('seq')))
  new_conv(c, ckey, channel, t, qkey, preferred)
  local out = { 'ok' }
  if agent then
    commit(out, c, ckey, channel, team, agent, pos, team.offers)
  else
    local member = qmember(qkey, c)
    redis.call('ZADD', key('queue', t), 0, member)
    emit_queued(out, c, ckey, channel, t, member)
  end
  return out
end

-- assign_to: agent, then the arguments of place.
local function assign_to()
  if config_missing() then
    return NOCONFIG
  end
  local a, c, ckey, channel, t, qprefix = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
  if redis.call('EXISTS', key('conv', c)) == 1 then
    return { 'already_placed', c }
  end
  if not is_agent(a) then
    return { 'unknown_agent', a }
  end
  local team = team_info(t)
  if not team then
    return { 'unknown_team', t }
  end
  local st = agent_state(a)
  if not st or not has_room(st) then
    return { 'agent_unavailable', a }
  end
  local qkey = qprefix .. hex16(redis.call('INCR', key('seq')))
  new_conv(c, ckey, channel, t, qkey, known_preferred(ARGV[8]))
  local out = { 'ok' }
  commit(out, c, ckey, channel, team, a, nil, false)
  return out
end

-- set_presence: agent, presence (online, away, offline), now (unix ms, decimal: the start of
-- the time in status when the presence changes).
local function set_presence()
  if config_missing() then
    return NOCONFIG
  end
  local a, presence = ARGV[2], ARGV[3]
  local st = is_agent(a) and agent_state(a)
  if not st then
    return { 'unknown_agent', a }
  end
  if st.presence ~= presence then
    redis.call('HSET', key('agent', a), 'since', ARGV[4])
  end
  update_agent(a, st, { presence = presence })
  if presence == 'offline' then
    clear_lease(a)
  end
  local out = { 'ok' }
  if presence == 'online' then
    drain(a, nil, out)
  end
  return out
end

-- heartbeat: lease end (biased hex), then agents.
local function heartbeat()
  if config_missing() then
    return NOCONFIG
  end
  local until_hex = ARGV[2]
  for i = 3, #ARGV do
    local a = ARGV[i]
    if is_agent(a) then
      local st = agent_state(a)
      if st and st.presence ~= 'offline' then
        set_lease(a, until_hex)
      end
    end
  end
  return { 'ok' }
end

-- expire_presence: now (biased hex), now (unix ms, decimal). Replies with the agents who went offline (any order).
local function expire_presence()
  if config_missing() then
    return NOCONFIG
  end
  local out = { 'ok' }
  local lapsed = redis.call('ZRANGEBYLEX', key('leases'), '-', '(' .. ARGV[2])
  for _, m in ipairs(lapsed) do
    local a = string.sub(m, TICK + 2)
    redis.call('ZREM', key('leases'), m)
    redis.call('HDEL', key('agent', a), 'lease')
    local st = agent_state(a)
    if st and st.presence ~= 'offline' then
      update_agent(a, st, { presence = 'offline' })
      redis.call('HSET', key('agent', a), 'since', ARGV[3])
      push(out, a)
    end
  end
  return out
end

-- release: c. Replies with what it held (status q/o/a or '' for nothing, team, agent), then
-- the placements of the drain.
local function release()
  if config_missing() then
    return NOCONFIG
  end
  local c = ARGV[2]
  local f = redis.call('HMGET', key('conv', c), 'status', 'team', 'agent', 'qkey')
  if not f[1] then
    return { 'ok', '', '', '' }
  end
  local status, t, a = f[1], f[2] or '', f[3] or ''
  redis.call('DEL', key('conv', c), key('declined', c))
  redis.call('SREM', key('placed'), c)
  local out = { 'ok', status, t, a }
  if status == 'q' then
    redis.call('ZREM', key('queue', t), qmember(f[4] or '', c))
  else
    if status == 'o' then
      redis.call('ZREM', key('offered', a), c)
    else
      redis.call('ZREM', key('assigned', a), c)
    end
    unload(a)
    drain(a, nil, out)
  end
  return out
end

-- The conversation c if it is offered to agent a: { team, key, channel, qkey }, else nil.
local function offered_to(a, c)
  local f = redis.call('HMGET', key('conv', c), 'status', 'agent', 'team', 'key', 'channel', 'qkey')
  if f[1] ~= 'o' or f[2] ~= a then
    return nil
  end
  return { team = f[3] or '', key = f[4] or '', channel = f[5] or '', qkey = f[6] or '' }
end

-- accept: agent, c.
local function accept()
  if config_missing() then
    return NOCONFIG
  end
  local a, c = ARGV[2], ARGV[3]
  if not is_agent(a) then
    return { 'unknown_agent', a }
  end
  local conv = offered_to(a, c)
  if not conv then
    return { 'not_offered', c }
  end
  redis.call('HSET', key('conv', c), 'status', 'a')
  redis.call('ZREM', key('offered', a), c)
  redis.call('ZADD', key('assigned', a), 0, c)
  return { 'ok', 'A', c, conv.key, conv.channel, conv.team, a }
end

-- Conversation c (`conv`: team, key, channel, qkey), `held` ('assigned' or 'offered') by
-- agent a, goes back to its team's queue with its queue key; a's slot frees; its team and a's
-- teams drain. If c still waits, its queued placement comes last.
local function back_to_queue(c, conv, a, held)
  unload(a)
  redis.call('HSET', key('conv', c), 'status', 'q', 'agent', '')
  redis.call('ZREM', key(held, a), c)
  local member = qmember(conv.qkey, c)
  redis.call('ZADD', key('queue', conv.team), 0, member)
  local out = { 'ok' }
  drain(a, conv.team, out)
  if redis.call('ZSCORE', key('queue', conv.team), member) then
    emit_queued(out, c, conv.key, conv.channel, conv.team, member)
  end
  return out
end

-- decline: agent, c.
local function decline()
  if config_missing() then
    return NOCONFIG
  end
  local a, c = ARGV[2], ARGV[3]
  if not is_agent(a) then
    return { 'unknown_agent', a }
  end
  local conv = offered_to(a, c)
  if not conv then
    return { 'not_offered', c }
  end
  redis.call('SADD', key('declined', c), a)
  return back_to_queue(c, conv, a, 'offered')
end

-- requeue: c. Takes c off the agent it is assigned or offered to, back to its team's queue with
-- its queue key; replies with the drain's placements (nothing when c is queued or unknown).
local function requeue()
  if config_missing() then
    return NOCONFIG
  end
  local c = ARGV[2]
  local f = redis.call('HMGET', key('conv', c), 'status', 'agent', 'team', 'key', 'channel', 'qkey')
  local held = nil
  if f[1] == 'a' then
    held = 'assigned'
  elseif f[1] == 'o' then
    held = 'offered'
  else
    return { 'ok' }
  end
  local conv = { team = f[3] or '', key = f[4] or '', channel = f[5] or '', qkey = f[6] or '' }
  return back_to_queue(c, conv, f[2] or '', held)
end

-- holdings_of: agent. Replies with what it holds: id, key, channel of each (any order).
local function holdings_of()
  local a = ARGV[2]
  local out = { 'ok' }
  for _, held in ipairs({ 'assigned', 'offered' }) do
    for _, c in ipairs(redis.call('ZRANGE', key(held, a), 0, -1)) do
      local f = redis.call('HMGET', key('conv', c), 'key', 'channel')
      push(out, c, f[1] or '', f[2] or '')
    end
  end
  return out
end

-- overflow: c, team. Replies with no placement when c is not queued.
local function overflow()
  if config_missing() then
    return NOCONFIG
  end
  local c = ARGV[2]
  local to = team_info(ARGV[3])
  if not to then
    return { 'unknown_team', ARGV[3] }
  end
  local f = redis.call('HMGET', key('conv', c), 'status', 'team', 'qkey', 'preferred', 'key',
    'channel')
  if f[1] ~= 'q' then
    return { 'ok' }
  end
  local from, member, ckey, channel = f[2] or '', qmember(f[3] or '', c), f[5] or '', f[6] or ''
  redis.call('ZREM', key('queue', from), member)
  local agent, pos = pick(to, stored_preferred(f[4]), {}, 0)
  if not agent and redis.call('ZCARD', key('queue', to.id)) >= to.max_queue then
    redis.call('ZADD', key('queue', from), 0, member)
    return { 'queue_full', to.id }
  end
  redis.call('HSET', key('conv', c), 'team', to.id)
  redis.call('DEL', key('declined', c))
  local out = { 'ok' }
  if agent then
    commit(out, c, ckey, channel, to, agent, pos, to.offers)
  else
    redis.call('ZADD', key('queue', to.id), 0, member)
    emit_queued(out, c, ckey, channel, to.id, member)
  end
  return out
end

-- position: c. Replies with the queued position, or nothing.
local function queued_position()
  local f = redis.call('HMGET', key('conv', ARGV[2]), 'status', 'team', 'qkey')
  if f[1] ~= 'q' then
    return { 'ok' }
  end
  local at = position(f[2] or '', qmember(f[3] or '', ARGV[2]))
  if at then
    return { 'ok', at }
  end
  return { 'ok' }
end

-- snapshot: teams (count, then per team: id, strategy, queue length, queue members), then
-- agents (count, then per agent: id, presence, since ('' unknown), capacity, load, teams, assigned, offered, each
-- list as its length then its items). The configured teams then the retired ones with a queue;
-- the configured agents then the retired ones holding something (redis.rs merges the orders).
-- Every other list in byte order except queues (service order).
local function snapshot()
  local out = { 'ok' }
  local teams = redis.call('ZRANGE', key('teams'), 0, -1)
  for _, t in ipairs(redis.call('ZRANGE', key('retired_teams'), 0, -1)) do
    if redis.call('ZCARD', key('queue', t)) > 0 then
      teams[#teams + 1] = t
    end
  end
  push(out, #teams)
  for _, t in ipairs(teams) do
    local queue = redis.call('ZRANGE', key('queue', t), 0, -1)
    push(out, t, redis.call('HGET', key('team', t), 'strategy') or 'rr', #queue)
    for _, m in ipairs(queue) do
      push(out, m)
    end
  end
  local agents = redis.call('ZRANGE', key('agents'), 0, -1)
  for _, a in ipairs(redis.call('ZRANGE', key('retired_agents'), 0, -1)) do
    if (tonumber(redis.call('HGET', key('agent', a), 'load')) or 0) > 0 then
      agents[#agents + 1] = a
    end
  end
  push(out, #agents)
  for _, a in ipairs(agents) do
    local f = redis.call('HMGET', key('agent', a), 'presence', 'since', 'capacity', 'load')
    push(out, a, f[1] or 'offline', f[2] or '', f[3] or '0', f[4] or '0')
    for _, kind in ipairs({ 'agent_teams', 'assigned', 'offered' }) do
      local items = redis.call('ZRANGE', key(kind, a), 0, -1)
      push(out, #items)
      for _, item in ipairs(items) do
        push(out, item)
      end
    end
  end
  return out
end

-- Nothing placed, every agent (configured or retired) offline with no load and no lease, cursors
-- back to the start. The tick and placing counters keep counting (only their order matters).
local function reset()
  for _, c in ipairs(redis.call('SMEMBERS', key('placed'))) do
    local f = redis.call('HMGET', key('conv', c), 'team', 'agent')
    if f[1] then
      redis.call('DEL', key('queue', f[1]))
    end
    if f[2] and f[2] ~= '' then
      redis.call('DEL', key('assigned', f[2]), key('offered', f[2]))
    end
    redis.call('DEL', key('conv', c), key('declined', c))
  end
  redis.call('DEL', key('placed'), key('leases'))
  for _, t in ipairs(redis.call('ZRANGE', key('teams'), 0, -1)) do
    redis.call('DEL', key('queue', t), key('elig', t))
    redis.call('HDEL', key('team', t), 'cursor')
  end
  for _, t in ipairs(redis.call('ZRANGE', key('retired_teams'), 0, -1)) do
    redis.call('DEL', key('queue', t))
  end
  local agents = redis.call('ZRANGE', key('agents'), 0, -1)
  for _, a in ipairs(redis.call('ZRANGE', key('retired_agents'), 0, -1)) do
    agents[#agents + 1] = a
  end
  for _, a in ipairs(agents) do
    redis.call('HSET', key('agent', a), 'presence', 'offline', 'load', 0, 'tick', 0)
    redis.call('HDEL', key('agent', a), 'lease', 'since')
    redis.call('DEL', key('assigned', a), key('offered', a))
  end
end

-- restore: ready marker key, count of assigned tickets, 7 values each (c, key, channel, team,
-- queue prefix, preferred, agent), count of waiting tickets, 6 values each. Replies 0 (left
-- alone: the marker exists) or 1, then the skipped conversations (reason, id) pairs.
local function restore()
  if config_missing() then
    return NOCONFIG
  end
  local ready = ARGV[2]
  if redis.call('EXISTS', ready) == 1 then
    return { 'ok', 0 }
  end
  reset()
  local out = { 'ok', 1 }
  local i = 3
  local count = tonumber(ARGV[i]) or 0
  i = i + 1
  for _ = 1, count do
    local c, ckey, channel, t, qprefix, preferred, a =
      ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
    i = i + 7
    if redis.call('EXISTS', key('conv', c)) == 1 then
      push(out, 'duplicate', c)
    elseif not is_agent(a) then
      push(out, 'unknown_agent', c)
    elseif not team_info(t) then
      push(out, 'unknown_team', c)
    else
      local qkey = qprefix .. hex16(redis.call('INCR', key('seq')))
      new_conv(c, ckey, channel, t, qkey, known_preferred(preferred))
      redis.call('HSET', key('conv', c), 'status', 'a', 'agent', a)
      redis.call('ZADD', key('assigned', a), 0, c)
      local st = agent_state(a)
      if st then
        update_agent(a, st, { load = st.load + 1 })
      end
    end
  end
  count = tonumber(ARGV[i]) or 0
  i = i + 1
  for _ = 1, count do
    local c, ckey, channel, t, qprefix, preferred =
      ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
    i = i + 6
    if redis.call('EXISTS', key('conv', c)) == 1 then
      push(out, 'duplicate', c)
    elseif not team_info(t) then
      push(out, 'unknown_team', c)
    else
      local qkey = qprefix .. hex16(redis.call('INCR', key('seq')))
      new_conv(c, ckey, channel, t, qkey, known_preferred(preferred))
      redis.call('ZADD', key('queue', t), 0, qmember(qkey, c))
    end
  end
  redis.call('SET', ready, '1')
  return out
end


-- configured_version: replies with the applied version (biased hex); `noconfig` without one.
local function configured_version()
  local version = redis.call('HGET', KEYS[1], 'version')
  if not version then
    return NOCONFIG
  end
  return { 'ok', version }
end

-- configure: version (biased hex), fingerprint, drain (1: drain the teams whose eligible agents
-- may have grown; 0: not, at connect and when syncing again), count of teams, 4 values each (id,
-- strategy rr/lb, offers 0/1, max_queue), count of agents, then per agent: id, capacity, count
-- of teams, the teams. Teams and agents come normalized (ascending, known teams only).
--
-- Unless the version applied is not older (then nothing changes), replaces the configuration
-- and rebuilds the indexes, keeping presence, loads, leases, queues and placements; renumbers the
-- round-robin cursors (after the same agent, or where it would have been); retires the agents
-- and teams left out that still hold or queue something (`retired_agents`, `retired_teams`) and
-- forgets the others; then drains. The rules are board.rs's `apply`, rule for rule. Replies
-- applied (0/1), the version and fingerprint it found ('' for none), then the placements.
local function configure()
  local version, fingerprint, draining = ARGV[2], ARGV[3], ARGV[4] == '1'
  local found = redis.call('HMGET', KEYS[1], 'version', 'fingerprint')
  local old_version, old_fingerprint = found[1] or '', found[2] or ''
  if old_version ~= '' and not before(old_version, version) then
    return { 'ok', 0, old_version, old_fingerprint }
  end

  -- The new configuration.
  local teams, new_team = {}, {}
  local i = 5
  local count = tonumber(ARGV[i]) or 0
  i = i + 1
  for _ = 1, count do
    local t = {
      id = ARGV[i], strategy = ARGV[i + 1], offers = ARGV[i + 2], max_queue = ARGV[i + 3],
      members = {},
    }
    i = i + 4
    teams[#teams + 1] = t
    new_team[t.id] = t
  end
  local agents, new_agent = {}, {}
  count = tonumber(ARGV[i]) or 0
  i = i + 1
  for _ = 1, count do
    local a = { id = ARGV[i], capacity_arg = ARGV[i + 1], teams = {} }
    a.capacity = tonumber(a.capacity_arg) or 0
    local nteams = tonumber(ARGV[i + 2]) or 0
    i = i + 3
    for _ = 1, nteams do
      local t = new_team[ARGV[i]]
      i = i + 1
      if t then
        a.teams[#a.teams + 1] = t.id
        -- Agents come in id order: members too.
        t.members[#t.members + 1] = a.id
      end
    end
    agents[#agents + 1] = a
    new_agent[a.id] = a
  end

  -- Reads: the configuration in force, and the state the new one is built on.
  local old_teams = redis.call('ZRANGE', key('teams'), 0, -1)
  local old_team = {}
  for _, t in ipairs(old_teams) do
    local f = redis.call('HMGET', key('team', t), 'strategy', 'cursor')
    local cursor = tonumber(f[2])
    local positions = redis.call('HGETALL', key('members', t))
    local members, last = {}, nil
    for j = 1, #positions, 2 do
      members[positions[j]] = true
      if cursor and tonumber(positions[j + 1]) == cursor then
        last = positions[j]
      end
    end
    old_team[t] = { strategy = f[1], last = last, members = members }
  end
  local old_agents = redis.call('ZRANGE', key('agents'), 0, -1)
  local old_capacity = {}
  for _, a in ipairs(old_agents) do
    old_capacity[a] = tonumber(redis.call('HGET', key('agent', a), 'capacity')) or 0
  end
  for _, a in ipairs(agents) do
    local f = redis.call('HMGET', key('agent', a.id), 'presence', 'load', 'tick')
    a.state = {
      presence = f[1] or 'offline',
      capacity = a.capacity,
      load = tonumber(f[2]) or 0,
      tick = tonumber(f[3]) or 0,
    }
  end
  -- Agents and teams left out: retired while they hold or queue something, else forgotten.
  local leaving_agents, seen = {}, {}
  for _, list in ipairs({ old_agents, redis.call('ZRANGE', key('retired_agents'), 0, -1) }) do
    for _, a in ipairs(list) do
      if not new_agent[a] and not seen[a] then
        seen[a] = true
        local load = tonumber(redis.call('HGET', key('agent', a), 'load')) or 0
        leaving_agents[#leaving_agents + 1] = { id = a, holds = load > 0 }
      end
    end
  end
  local leaving_teams, unsure = {}, false
  seen = {}
  for _, list in ipairs({ old_teams, redis.call('ZRANGE', key('retired_teams'), 0, -1) }) do
    for _, t in ipairs(list) do
      if not new_team[t] and not seen[t] then
        seen[t] = true
        local used = redis.call('ZCARD', key('queue', t)) > 0
        leaving_teams[#leaving_teams + 1] = { id = t, used = used }
        unsure = unsure or not used
      end
    end
  end
  if unsure then
    -- A team whose queue is empty may still be the team of an assigned or offered
    -- conversation (which a decline or requeue would queue there again).
    local used = {}
    for _, c in ipairs(redis.call('SMEMBERS', key('placed'))) do
      local t = redis.call('HGET', key('conv', c), 'team')
      if t then
        used[t] = true
      end
    end
    for _, t in ipairs(leaving_teams) do
      t.used = t.used or used[t.id] == true
    end
  end
  -- Cursors, and the teams whose eligible agents may have grown.
  local grown = {}
  for _, t in ipairs(teams) do
    local old = old_team[t.id]
    local grew
    if not old then
      grew = #t.members > 0
    else
      grew = old.strategy ~= t.strategy
      for _, a in ipairs(t.members) do
        local capacity = old_capacity[a]
        if not old.members[a] or (capacity and capacity < new_agent[a].capacity) then
          grew = true
        end
      end
      if old.last then
        local n = 0
        for _, a in ipairs(t.members) do
          if not before(old.last, a) then
            n = n + 1
          end
        end
        if n > 0 then
          t.cursor = n - 1
        end
      end
    end
    if grew then
      grown[#grown + 1] = t.id
    end
  end

  -- Writes.
  for _, t in ipairs(old_teams) do
    redis.call('DEL', key('members', t), key('elig', t))
  end
  for _, a in ipairs(old_agents) do
    redis.call('DEL', key('agent_teams', a))
  end
  redis.call('DEL', key('teams'), key('agents'))
  for _, t in ipairs(teams) do
    redis.call('ZADD', key('teams'), 0, t.id)
    redis.call('ZREM', key('retired_teams'), t.id)
    redis.call('HSET', key('team', t.id), 'strategy', t.strategy, 'offers', t.offers,
      'max_queue', t.max_queue)
    if t.cursor then
      redis.call('HSET', key('team', t.id), 'cursor', t.cursor)
    else
      redis.call('HDEL', key('team', t.id), 'cursor')
    end
    for p, a in ipairs(t.members) do
      redis.call('HSET', key('members', t.id), a, p - 1)
    end
  end
  for _, t in ipairs(leaving_teams) do
    if t.used then
      redis.call('ZADD', key('retired_teams'), 0, t.id)
      redis.call('HDEL', key('team', t.id), 'cursor')
    else
      redis.call('ZREM', key('retired_teams'), t.id)
      redis.call('DEL', key('team', t.id), key('queue', t.id))
    end
  end
  for _, a in ipairs(agents) do
    redis.call('ZADD', key('agents'), 0, a.id)
    redis.call('ZREM', key('retired_agents'), a.id)
    local agent = key('agent', a.id)
    redis.call('HSET', agent, 'capacity', a.capacity_arg)
    redis.call('HSETNX', agent, 'presence', 'offline')
    redis.call('HSETNX', agent, 'load', 0)
    redis.call('HSETNX', agent, 'tick', 0)
    for _, t in ipairs(a.teams) do
      redis.call('ZADD', key('agent_teams', a.id), 0, t)
    end
  end
  for _, a in ipairs(leaving_agents) do
    clear_lease(a.id)
    if a.holds then
      redis.call('ZADD', key('retired_agents'), 0, a.id)
      redis.call('HSET', key('agent', a.id), 'presence', 'offline')
      redis.call('HDEL', key('agent', a.id), 'since')
    else
      redis.call('ZREM', key('retired_agents'), a.id)
      redis.call('DEL', key('agent', a.id), key('assigned', a.id), key('offered', a.id))
    end
  end
  for _, t in ipairs(teams) do
    for p, a in ipairs(t.members) do
      local st = new_agent[a].state
      if has_room(st) then
        if t.strategy == 'lb' then
          redis.call('ZADD', key('elig', t.id), st.load, lb_member(st, a))
        else
          redis.call('ZADD', key('elig', t.id), p - 1, a)
        end
      end
    end
  end
  redis.call('HSET', KEYS[1], 'version', version, 'fingerprint', fingerprint)

  team_cache = {}
  local out = { 'ok', 1, old_version, old_fingerprint }
  if draining then
    drain_teams(grown, out)
  end
  return out
end
