"""One module per GAN loss family (``GANConfig.loss`` names it): its paper's settings and its terms.

Each module defines ``PAPER`` (a :class:`gm_lib.models.gan.PaperRecipe`), ``critic_terms(model, real, fake,
real_scores, fake_scores)`` and ``generator_loss(fake_scores)``, and optionally ``after_critic_step(model)`` and
``prepare_critic(critic)``. :class:`gm_lib.models.gan.GAN` imports the module by name, so a run's cache key
covers its own family's module and not the others' (:mod:`gm_lib.code_graph`); adding a family is adding a
module here. This file holds nothing else.
"""
