using Livrable.Build.Cache;
using Livrable.Diagnostics;
using Livrable.Dockerfile;

namespace Livrable.Build.Dockerfile;

/// <summary>
/// A metadata instruction as a step (<see cref="MetadataSteps"/> holds the rules): nothing for the step cache, and
/// <see cref="RunAsync"/> only changes the stage's config, environment and history, so a plan runs it too.
/// </summary>
internal sealed class MetadataStep(StepContext step, Instruction instruction) : IBuildStep
{
    public Task<StepKeying> PrepareAsync(StepKey key, CancellationToken cancellationToken) => Task.FromResult(StepKeying.NotCached);

    public Task RunAsync(CancellationToken cancellationToken)
    {
        switch (instruction)
        {
            case EnvInstruction env: MetadataSteps.Env(step, env); break;
            case ArgInstruction arg: MetadataSteps.Arg(step, arg); break;
            case LabelInstruction label: MetadataSteps.Label(step, label); break;
            case MaintainerInstruction maintainer: MetadataSteps.Maintainer(step, maintainer); break;
            case ExposeInstruction expose: MetadataSteps.Expose(step, expose); break;
            case VolumeInstruction volume: MetadataSteps.Volume(step, volume); break;
            case UserInstruction user: MetadataSteps.User(step, user); break;
            case StopsignalInstruction stop: MetadataSteps.StopSignal(step, stop); break;
            case HealthcheckInstruction health: MetadataSteps.Healthcheck(step, health); break;
            case ShellInstruction shell: MetadataSteps.Shell(step, shell); break;
            case CmdInstruction cmd: MetadataSteps.Cmd(step, cmd); break;
            case EntrypointInstruction entrypoint: MetadataSteps.Entrypoint(step, entrypoint); break;
            case OnbuildInstruction onbuild: MetadataSteps.Onbuild(step, onbuild); break;
            default:
                throw new LivrableException(DiagnosticCodes.Internal, $"{instruction.Keyword} cannot appear inside a stage.", step.Span);
        }
        return Task.CompletedTask;
    }
}
