# tls_ruby.rb: Ruby threads, run natively and under weftrun (real_programs.sh, case
# ruby_threads). Each Ruby Thread is a pthread, and the interpreter finds the running thread's
# execution context (its VM stack, control frames, Thread.current) through thread-local storage,
# set when the thread starts and whenever it takes the global VM lock back. The threads block in
# every way Ruby offers: sleep, Queue and SizedQueue, Mutex with ConditionVariable, a pipe, join
# and value, a Fiber inside a thread. After each, a thread checks it is still itself:
# Thread.current, its name, its fiber-local Thread.current[:who] and its thread variable
# (thread_variable_get). The output is deterministic: per-thread summaries in a fixed order.
$stdout.sync = true
Thread.report_on_exception = false
WORKERS = 6
ROUNDS = 30

def check(me, name, id, what)
  cur = Thread.current
  return if cur.equal?(me) && cur.name == name && cur[:who] == name &&
            cur.thread_variable_get(:id) == id
  raise "#{name} is #{cur.name} (#{cur[:who]}, #{cur.thread_variable_get(:id)}) after #{what}"
end

# A round barrier: Mutex and ConditionVariable.
class Phase
  def initialize(n)
    @n = n
    @count = 0
    @gen = 0
    @lock = Mutex.new
    @cv = ConditionVariable.new
  end

  def wait
    @lock.synchronize do
      gen = @gen
      @count += 1
      if @count == @n
        @count = 0
        @gen += 1
        @cv.broadcast
      else
        @cv.wait(@lock) while @gen == gen
      end
    end
  end
end

jobs = Array.new(WORKERS) { Queue.new }
results = SizedQueue.new(2)
phase = Phase.new(WORKERS)
reader, writer = IO.pipe
write_lock = Mutex.new

# The pipe's reader: a thread blocked in read most of the time.
collector = Thread.new do
  Thread.current.name = 'collector'
  lines = Hash.new(0)
  while (line = reader.gets)
    lines[line.split(':').first] += 1
  end
  lines
end

workers = Array.new(WORKERS) do |i|
  Thread.new(i) do |k|
    me = Thread.current
    name = "worker#{k}"
    me.name = name
    me[:who] = name
    me.thread_variable_set(:id, k)
    sum = 0
    ROUNDS.times do |r|
      sleep(0.0002 * (k + 1))
      check(me, name, k, 'sleep')
      v = jobs[k].pop
      check(me, name, k, 'Queue#pop')
      sum += v
      write_lock.synchronize { writer.puts("#{name}:#{r}") }
      check(me, name, k, 'pipe write')
      if r % 10 == 9
        phase.wait
        check(me, name, k, 'ConditionVariable#wait')
      end
      results.push([k, r])
      check(me, name, k, 'SizedQueue#push')
    end
    # A Fiber inside the thread has its own fiber-locals but the thread's thread variables.
    f = Fiber.new do
      Thread.current[:who] = 'fiber'
      Fiber.yield Thread.current.thread_variable_get(:id)
      Thread.current[:who]
    end
    fid = f.resume
    sleep 0.001
    fwho = f.resume
    check(me, name, k, 'Fiber')
    raise ArgumentError, "deliberate in #{name}" if k.odd?

    [name, sum, fid, fwho]
  end
end

feeder = Thread.new do
  Thread.current.name = 'feeder'
  ROUNDS.times { |r| WORKERS.times { |k| jobs[k].push(r * 100 + k) } }
  :fed
end

replies = Hash.new(0)
(WORKERS * ROUNDS).times do
  k, _r = results.pop
  replies[k] += 1
end
workers.each_with_index do |t, k|
  begin
    name, sum, fid, fwho = t.value
    puts "#{name}: sum #{sum}, fiber saw id #{fid} and who #{fwho}, replies #{replies[k]}"
  rescue ArgumentError => e
    puts "worker#{k} raised: #{e.message} (replies #{replies[k]})"
  end
end
puts "feeder: #{feeder.value}"
writer.close
lines = collector.value
puts "pipe lines: #{lines.sort.map { |n, c| "#{n}=#{c}" }.join(' ')}"
puts "main: #{Thread.current.equal?(Thread.main)} #{Thread.current[:who].inspect} threads #{Thread.list.size}"
