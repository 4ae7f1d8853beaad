package flinkops.testjob;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The test job: counts numbers per key (n % 4) in keyed ValueState and prints
 * "flinkops-counter key=K count=C" to the TaskManager's stdout. Every operator has an
 * explicit uid so state maps across savepoints and parallelism changes; after a restore
 * the counts continue from where they were instead of starting at 1.
 *
 * Argument: milliseconds to wait per record and subtask (default 20), to keep it gentle.
 */
public class CounterJob {
    public static void main(String[] args) throws Exception {
        long delayMs = args.length > 0 ? Long.parseLong(args[0]) : 20;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.fromSequence(0, Long.MAX_VALUE)
                .uid("numbers")
                .name("numbers")
                .map(new Throttle(delayMs))
                .uid("throttle")
                .name("throttle")
                .keyBy(n -> n % 4)
                .process(new Counter())
                .uid("counter")
                .name("counter")
                .print()
                .uid("print")
                .name("print");
        env.execute("flinkops-counter");
    }

    static class Throttle implements MapFunction<Long, Long> {
        private final long delayMs;

        Throttle(long delayMs) {
            this.delayMs = delayMs;
        }

        @Override
        public Long map(Long n) throws Exception {
            if (delayMs > 0) {
                Thread.sleep(delayMs);
            }
            return n;
        }
    }

    static class Counter extends KeyedProcessFunction<Long, Long, String> {
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Long.class));
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<String> out) throws Exception {
            Long c = count.value();
            long next = c == null ? 1 : c + 1;
            count.update(next);
            out.collect("flinkops-counter key=" + ctx.getCurrentKey() + " count=" + next);
        }
    }
}
