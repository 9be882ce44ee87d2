# ReducedWongWang network with Linear coupling as a DifferentialEquations.jl problem.
# Rendered by tvbo_pipe 0.1.0 (render_code(..., "julia")) from its model
# registry and the experiment below. Run: julia this_file.jl [weights.tsv]
# (weights: tab-separated, weights[k, j] from node j to node k).
#
# Reduced Wong-Wang mean-field model: dynamics of the NMDA synaptic gating variable S of an excitatory population; long-range input enters the synaptic current as J_N times the coupling.
#
# The experiment (YAML):
#   model:
#     name: ReducedWongWang
#     parameters: {w: 0.5, I_o: 0.32}
#   connectivity: {weights: null, lengths: null, normative: dk68, conduction_speed: .inf,
#     delay_interpolation: nearest}
#   coupling:
#     name: Linear
#     parameters: {a: 0.5}
#   integration:
#     method: Heun
#     dt: 4.0
#     duration: 120000.0
#     noise: {sigma: 0.00283, convention: sigma}
#     seed: 42
#   monitors:
#   - type: Raw
#     period: null
#     variables: []
#     hrf: FirstOrderVolterra
#   - type: Bold
#     period: 1000.0
#     variables: []
#     hrf: FirstOrderVolterra
#   initial_conditions:
#     type: default
#     values: {}

using DifferentialEquations
using DelimitedFiles

"""
    dfun!(du, u, p, t)

In-place right-hand side of the network: `u[i, k]` is state variable `i`
(S) of node `k`; `p` holds the parameters and `weights`.
"""
function dfun!(du, u, p, t)
    (; a, b, d, gamma, tau_s, w, J_N, I_o, cpl_a, cpl_b, weights) = p
    n = size(u, 2)
    @inbounds for k in 1:n
        # long-range input of node k (Linear): post(sum_j w[k, j] pre)
        gx_0 = 0.0
        for j in 1:n
            gx_0 += weights[k, j] * (u[1, j])
        end
        c_0 = cpl_a * gx_0 + cpl_b
        # the model
        S = u[1, k]
        x = w * J_N * S + I_o + J_N * c_0
        u_ = a * x - b
        H_x = u_ / (1.0 - exp(-d * u_))
        du[1, k] = -(S / tau_s) + (1.0 - S) * H_x * gamma
    end
    return nothing
end

# model parameters, then coupling parameters (prefix cpl_)
const PARAMETERS = (
    a = 0.27,
    b = 0.108,
    d = 154.0,
    gamma = 0.641,
    tau_s = 100.0,
    w = 0.5,
    J_N = 0.2609,
    I_o = 0.32,
    sigma_noise = 1e-09,
    cpl_a = 0.5,
    cpl_b = 0.0,
)

weights = if length(ARGS) >= 1
    readdlm(ARGS[1], '\t', Float64)
else
    # a small random network
    w = rand(8, 8)
    for i in 1:8
        w[i, i] = 0.0
    end
    w
end
n_nodes = size(weights, 1)
p = merge(PARAMETERS, (weights = weights,))

u0 = repeat([0.5], 1, n_nodes)  # S of every node
tspan = (0.0, 120000.0)  # ms
const LOWER = [0.0]
const UPPER = [1.0]
# clamp to the state-variable boundaries after every step
bounds = DiscreteCallback((u, t, integrator) -> true,
    integrator -> (integrator.u .= clamp.(integrator.u, LOWER, UPPER));
    save_positions = (false, false))
# additive noise: amplitude per state variable (sigma convention)
const NOISE = [0.00283]
function noise!(du, u, p, t)
    du .= NOISE
    return nothing
end
prob = SDEProblem(dfun!, noise!, u0, tspan, p)
sol = solve(prob, EulerHeun(); dt = 4.0, adaptive = false, saveat = 1000.0, callback = bounds)
println("final state: ", sol.u[end])
