/**
 * diarization: the synthetic meeting (3 voices, 12 turns) through the real
 * pipeline (recording -> feed -> model host: Silero VAD, fixed-text Whisper,
 * the generated speaker-embedding model -> online clustering -> re-clustering
 * at stop), scored against the meeting's RTTM: diarization error rate with no
 * collar and overlap scored. Whisper's text does not matter here, so the
 * fast fixed-text model is used.
 *
 *   npm run bench -- diarization
 */
import { diarizationErrorRate, type Turn } from '../src/core/der';
import { ensureSyntheticMeeting } from '../src/testing/synthetic-meeting';
import { testModels } from '../src/testing/test-models';
import { pumpFast, startLiveRun } from './support-live';
import { round } from './support';

export default async function diarization(): Promise<Record<string, unknown>> {
  const meeting = await ensureSyntheticMeeting();
  const models = await testModels();
  const started = performance.now();
  const run = await startLiveRun(meeting.wav48k, models, { pacing: 'manual' });
  try {
    process.stderr.write(
      `diarization: ${meeting.turns.length} turns, ${meeting.durationS.toFixed(1)} s\n`,
    );
    await pumpFast(run, meeting.durationS + 1);
    const transcript = await run.finish();
    const reference: Turn[] = meeting.turns.map((t) => ({
      start: t.start,
      end: t.end,
      speaker: t.speaker,
    }));
    const hypothesis: Turn[] = transcript.segments.map((s) => ({
      start: s.startS,
      end: s.endS,
      speaker: `S${s.speaker}`,
    }));
    const score = diarizationErrorRate(reference, hypothesis);
    return {
      der: round(score.der, 4),
      missed_s: round(score.missed, 2),
      false_alarm_s: round(score.falseAlarm, 2),
      confusion_s: round(score.confusion, 2),
      scored_s: round(score.total, 2),
      speakers_true: new Set(reference.map((t) => t.speaker)).size,
      speakers_found: new Set(hypothesis.map((t) => t.speaker)).size,
      turns: reference.length,
      segments: hypothesis.length,
      wall_s: round((performance.now() - started) / 1000, 1),
      pass: score.der <= 0.15,
    };
  } finally {
    run.dispose();
  }
}
